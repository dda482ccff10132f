package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `warren version` needs no server and names the Go version;
// with -o json it is the version.Info object.
func TestVersion(t *testing.T) {
	code, out, errOut := warren(t, "127.0.0.1:1", "", "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "warren ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version printed %q", out)
	}
	code, out, errOut = warren(t, "127.0.0.1:1", "", "-o", "json", "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" || v.GoVersion == "" {
		t.Fatalf("json version %q: %v", out, err)
	}
}
