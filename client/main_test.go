package client_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/warrenmq/warren/transport/transporttest"
	"go.uber.org/goleak"
)

// server is the address the examples dial. In `go test` it is a real
// in-process node on a loopback port; in your code, your node's address.
var server = "127.0.0.1:5680"

// TestMain runs the examples against a real node (Raft groups on bolt files
// in a temp dir, gRPC on loopback) and checks that no goroutine leaks.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warren-client-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := transporttest.StartMain(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start node:", err)
		os.Exit(1)
	}
	server = n.Addr
	code := m.Run()
	n.Stop()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
