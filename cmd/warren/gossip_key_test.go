package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestGossipKeyCommands: a key rotation with the gossip-key commands
// against a real node whose gossip is encrypted: generate, install (the key
// as an argument), use and remove (with --key-file), list (text and JSON);
// the node's refusals exit 1 with its message; a missing key is a usage
// error, found before connecting.
func TestGossipKeyCommands(t *testing.T) {
	oldKey := make([]byte, 32)
	if _, err := rand.Read(oldKey); err != nil {
		t.Fatal(err)
	}
	oldB64 := base64.StdEncoding.EncodeToString(oldKey)
	n := transporttest.Start(t, transporttest.Options{QueueGroups: 1, GossipKey: oldKey})
	dir := t.TempDir()
	oldFile, newFile := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	if err := os.WriteFile(oldFile, []byte(oldB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := warren(t, n.Addr, "", "cluster", "gossip-key", "generate")
	newB64 := strings.TrimSpace(out)
	if raw, err := base64.StdEncoding.DecodeString(newB64); code != 0 || err != nil || len(raw) != 32 {
		t.Fatalf("generate: exit %d, %q (%v), %s", code, out, err, stderr)
	}
	if err := os.WriteFile(newFile, []byte(newB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		says []string
	}{
		{[]string{"install", newB64}, []string{"key installed on every running member (1)", newB64 + "  1/1      0/1"}},
		{[]string{"use", "--key-file", newFile}, []string{"key now the primary key on every running member (1)", newB64 + "  1/1      1/1", oldB64 + "  1/1      0/1"}},
		{[]string{"remove", "--key-file", oldFile}, []string{"key removed on every running member (1)"}},
		{[]string{"list"}, []string{"KEY", "MEMBERS", "PRIMARY", newB64 + "  1/1      1/1"}},
	}
	for _, s := range steps {
		code, out, stderr := warren(t, n.Addr, "", append([]string{"cluster", "gossip-key"}, s.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %s", s.args, code, stderr)
		}
		for _, want := range s.says {
			if !strings.Contains(out, want) {
				t.Fatalf("%v: output %q lacks %q", s.args, out, want)
			}
		}
		if s.args[0] == "remove" && strings.Contains(out, oldB64) {
			t.Fatalf("remove: the old key is still listed: %q", out)
		}
	}
	code, out, _ = warren(t, n.Addr, "", "cluster", "gossip-key", "list", "-o", "json")
	var kr client.GossipKeyring
	if err := json.Unmarshal([]byte(out), &kr); code != 0 || err != nil {
		t.Fatalf("list -o json: exit %d, %q, %v", code, out, err)
	}
	if kr.Members != 1 || kr.Primary != newB64 || len(kr.Keys) != 1 || kr.Keys[0] != (client.GossipKey{Key: newB64, Members: 1, PrimaryMembers: 1}) {
		t.Fatalf("list -o json: %+v", kr)
	}

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"remove", newB64}, "is the primary key"},
		{[]string{"use", oldB64}, "not installed"},
		{[]string{"install", "c2hvcnQ="}, "key: invalid gossip key: 5 bytes; a gossip key is 16, 24 or 32 bytes"},
	} {
		code, _, stderr := warren(t, n.Addr, "", append([]string{"cluster", "gossip-key"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%v: exit %d, %q; want 1 saying %q", tc.args, code, stderr, tc.says)
		}
	}
	for _, args := range [][]string{
		{"install"},
		{"use", newB64, "--key-file", newFile},
		{"remove", "a", "b"},
		{"generate", "extra"},
	} {
		// An unreachable server: usage errors come before connecting.
		code, _, stderr := warren(t, "127.0.0.1:1", "", append([]string{"cluster", "gossip-key"}, args...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, %q; want a usage error", args, code, stderr)
		}
	}
}
