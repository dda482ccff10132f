package e2e_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runNode runs warren-node with args (which must make it exit at once)
// and returns its stdout, stderr and exit status.
func runNode(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(nodeBinary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestNodeFlagErrorsOnce (issue 10, first hour 10): a bad warren-node flag
// prints its error once (the flag package and main both printed it, with
// the whole usage between) and exits 2; --help prints the usage to stdout
// and exits 0, and --memory-high-watermark's default appears once.
func TestNodeFlagErrorsOnce(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--memory-high-watermark", "12XB"}, {"extra"}, {"--max-message-bytes", "0"}} {
		out, errOut, code := runNode(t, args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "warren-node: ") || !strings.HasPrefix(lines[1], "Run 'warren-node --help'") {
			t.Errorf("warren-node %v: exit %d, stdout %q, stderr %q; want 2, the error once and a pointer to --help", args, code, out, errOut)
		}
	}

	out, errOut, code := runNode(t, "--help")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "warren-node runs one Warren node.") || !strings.Contains(out, "Usage:") {
		t.Fatalf("--help: exit %d, stderr %q, stdout starts %q", code, errOut, out[:min(len(out), 40)])
	}
	_, help, _ := strings.Cut(out, "--memory-high-watermark")
	help, _, _ = strings.Cut(help, "\n")
	if n := strings.Count(help, "default"); n != 1 {
		t.Errorf("--memory-high-watermark's help mentions a default %d times, want once: %q", n, help)
	}
}
