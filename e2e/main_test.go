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
	"sync"
	"testing"
)

// nodeBinary is the path of the warren-node binary built by TestMain; empty
// in helper processes.
var nodeBinary string

// binDir holds the binaries TestMain and cliBinary build; removed when the
// tests end.
var binDir string

// cli is the warren CLI binary, built at the first cliBinary call.
var cli struct {
	once sync.Once
	path string
	err  error
}

// cliBinary returns the path of the warren CLI (./cmd/warren), building it
// at the first call: only the tests that run the CLI pay for the build.
func cliBinary(t testing.TB) string {
	t.Helper()
	cli.once.Do(func() { cli.path, cli.err = build(binDir, "warren", "./cmd/warren") })
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

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
	binDir = dir
	if nodeBinary, err = build(dir, "warren-node", "./cmd/node"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// build builds pkg (./cmd/…) of the module this package belongs to into
// dir as name and returns the binary's path; extra go build arguments
// (-ldflags) go before the package.
func build(dir, name, pkg string, extra ...string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module (GOMOD=%q)", gomod)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, extra...), pkg)...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// nodeEnv is the environment of a warren-node child: the test's, less
// every WARREN_ variable. warren-node reads WARREN_<OPTION> as its options,
// and a developer's shell may export the warren CLI's (WARREN_TLS_CERT and
// WARREN_TLS_KEY name node options too), so nodes get only their flags.
//
// It adds WARREN_AMQP_ADDR=127.0.0.1:0: several nodes of a test share the
// host and the AMQP port's default (5672) is fixed; a test that needs the
// AMQP port passes --amqp-addr, which wins.
func nodeEnv() []string {
	env := []string{"WARREN_AMQP_ADDR=127.0.0.1:0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WARREN_") {
			env = append(env, kv)
		}
	}
	return env
}
