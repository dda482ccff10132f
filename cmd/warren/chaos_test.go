package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChaosRunUsageErrors: bad flags of `warren chaos run` exit with status
// 2 and say what is wrong before anything starts. (The runs themselves are
// tested in e2e/chaos_test.go with real nodes.)
func TestChaosRunUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-warren-node")
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "warren-node")
	if err := os.WriteFile(fake, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chaos", "run", "--faults", "kill,meteor"}, `unknown fault "meteor"`},
		{[]string{"chaos", "run", "--node-binary", missing}, "--node-binary"},
		{[]string{"chaos", "run", "--node-binary", fake, "--data-dir", full}, "is not empty"},
		{[]string{"chaos", "run", "extra"}, "takes 0 argument"},
		{[]string{"chaos", "run", "--server", "127.0.0.1:1"}, "starts its own cluster: --server 127.0.0.1:1 is not used"},
		{[]string{"bench", "failover", "--server", "127.0.0.1:1"}, "starts its own cluster: --server 127.0.0.1:1 is not used"},
	} {
		code, _, stderr := warren(t, "", "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestFindNodeBinaryInPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "warren-node")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	got, err := findNodeBinary("")
	if err != nil || got != bin {
		// Next to the test binary there is no warren-node, so PATH wins.
		t.Fatalf("found %q, %v; want %q", got, err, bin)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := findNodeBinary(""); err == nil || !strings.Contains(err.Error(), "go build -o warren-node") {
		t.Fatalf("no binary anywhere: %v", err)
	}
}
