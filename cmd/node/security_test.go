package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warrenmq/warren/cluster"
)

// TestRefusesToListenBeyondLoopbackUnprotected: a node whose ports are
// beyond loopback starts only with TLS, cluster TLS and a gossip key, or
// with --insecure; on loopback (the README's first command) it needs none.
func TestRefusesToListenBeyondLoopbackUnprotected(t *testing.T) {
	dir := t.TempDir()
	shortKey := filepath.Join(dir, "short.key")
	if err := os.WriteFile(shortKey, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A data dir that an earlier start, or a rotation, left a keyring in.
	keyringDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(keyringDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyring := `{"version": 1, "keys": ["AAECAwQFBgcICQoLDA0ODw=="]}`
	if err := os.WriteFile(filepath.Join(keyringDir, cluster.GossipKeyringFile), []byte(keyring), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // "" = starts
	}{
		{"loopback defaults", nil, ""},
		{"open client port", []string{"--grpc-addr", "10.0.0.1:5680"}, "the client API on 10.0.0.1:5680 has no TLS"},
		{"open cluster port", []string{"--raft-addr", "10.0.0.1:5681"}, "the cluster port on 10.0.0.1:5681 has no mutual TLS"},
		{"open gossip", []string{"--gossip-addr", "10.0.0.1:5682"}, "gossip on 10.0.0.1:5682 is not encrypted"},
		{"open HTTP endpoint", []string{"--http-addr", "10.0.0.1:5683"}, "the HTTP endpoint on 10.0.0.1:5683 has no TLS"},
		{"HTTP endpoint without auth", []string{"--http-addr", "10.0.0.1:5683", "--no-auth"}, "the HTTP endpoint on 10.0.0.1:5683 has no authentication"},
		{"HTTP endpoint off", []string{"--http-addr", ""}, ""},
		{"insecure", []string{"--grpc-addr", "10.0.0.1:5680", "--raft-addr", "10.0.0.1:5681", "--http-addr", "10.0.0.1:5683", "--insecure"}, ""},
		{"half a pair", []string{"--tls-cert", "a.pem"}, "--tls-cert and --tls-key go together"},
		{"client CA without TLS", []string{"--tls-client-ca", "ca.pem"}, "--tls-client-ca needs --tls-cert"},
		{"part of the cluster trio", []string{"--cluster-ca", "ca.pem", "--cluster-cert", "n.pem"}, "--cluster-ca, --cluster-cert and --cluster-key go together"},
		{"missing gossip key file", []string{"--gossip-key-file", "/nonexistent/gossip.key"}, "--gossip-key-file"},
		{"short gossip key", []string{"--gossip-key-file", shortKey}, "invalid gossip key: 5 bytes"},
		{"open gossip with a persisted keyring", []string{"--gossip-addr", "10.0.0.1:5682", "--data-dir", keyringDir}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFlags(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.security.load(f)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5680": true, "[::1]:5680": true, "localhost:5680": true,
		"0.0.0.0:5680": false, ":5680": false, "10.1.2.3:5680": false, "node-a:5680": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %t, want %t", addr, got, want)
		}
	}
}
