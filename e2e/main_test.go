// Package e2e_test holds Warren's end-to-end tests: real nodes (in-process
// through transporttest, or the warren-node binary in a child process), the
// real Go SDK, the real gRPC API. No mocks.
package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeBinary is the path of the warren-node binary built by TestMain; empty
// in helper processes.
var nodeBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv(workerEnv) != "" {
		// A helper process (see TestHelperWorker) needs no binary.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "warren-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if nodeBinary, err = buildNode(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// buildNode builds ./cmd/node of the module this package belongs to into
// dir and returns the binary's path; extra go build arguments (-ldflags)
// go before the package.
func buildNode(dir string, extra ...string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module (GOMOD=%q)", gomod)
	}
	bin := filepath.Join(dir, "warren-node")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, extra...), "./cmd/node")...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/node: %w\n%s", err, out)
	}
	return bin, nil
}

// nodeEnv is the environment of a warren-node child: the test's, less
// every WARREN_ variable. warren-node reads WARREN_<OPTION> as its options,
// and a developer's shell may export the warren CLI's (WARREN_TLS_CERT and
// WARREN_TLS_KEY name node options too), so nodes get only their flags.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WARREN_") {
			env = append(env, kv)
		}
	}
	return env
}
