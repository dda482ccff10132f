// Package transporttest starts real Warren nodes in-process for tests: a
// cluster.Node with its Raft groups on bolt files in a temp dir and the
// BrokerService on a loopback gRPC port the OS picks.
package transporttest

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/transport"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Node is an in-process node serving gRPC on Addr.
type Node struct {
	Addr    string
	DataDir string
	Node    *cluster.Node
	grpc    *grpc.Server
	cfg     cluster.Config
}

// Options tune a test node; the zero value is a 4-group node.
type Options struct {
	QueueGroups  int
	DataDir      string
	SessionGrace time.Duration
	Limits       *transport.Limits
}

// TimeoutScale multiplies test deadlines (WARREN_TEST_TIMEOUT_SCALE).
func TimeoutScale() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("WARREN_TEST_TIMEOUT_SCALE")); err == nil && s > 0 {
		return time.Duration(s)
	}
	return 1
}

// Start runs a single-node broker for the test and stops it at cleanup.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.QueueGroups == 0 {
		o.QueueGroups = 4
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "test-node"
	cfg.DataDir = o.DataDir
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.QueueGroups = o.QueueGroups
	cfg.Group = cluster.FastGroupConfig()
	cfg.SessionGrace = o.SessionGrace
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "node", Level: hclog.Warn, Output: testWriter{t}})
	n := &Node{DataDir: o.DataDir, cfg: cfg}
	n.start(t, o)
	t.Cleanup(n.Stop)
	return n
}

func (n *Node) start(t testing.TB, o Options) {
	t.Helper()
	node, err := cluster.Start(n.cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*TimeoutScale())
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		node.Close()
		t.Fatalf("node not ready: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := transport.DefaultLimits()
	if o.Limits != nil {
		limits = *o.Limits
	}
	gs := grpc.NewServer(transport.GRPCOptions(limits)...)
	transport.NewServer(node, limits, nil).Register(gs)
	transport.NewNodeServer(node).Register(gs)
	go func() { _ = gs.Serve(ln) }()
	n.Node, n.grpc, n.Addr = node, gs, ln.Addr().String()
}

// Stop stops serving and closes the node; idempotent.
func (n *Node) Stop() {
	if n.grpc != nil {
		n.grpc.Stop()
		n.grpc = nil
	}
	if n.Node != nil {
		_ = n.Node.Close()
		n.Node = nil
	}
}

// Dial returns a raw API client to the node, closed at cleanup.
func (n *Node) Dial(t testing.TB) pb.BrokerServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return pb.NewBrokerServiceClient(cc)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// StartMain runs a node for a whole test binary (from TestMain, where there
// is no testing.TB): data in dir, gRPC on a loopback port. Call Stop when
// the tests are done.
func StartMain(dir string) (*Node, error) {
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "test-node"
	cfg.DataDir = dir
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.Group = cluster.FastGroupConfig()
	cfg.SessionGrace = 0
	node, err := cluster.Start(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*TimeoutScale())
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		node.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		node.Close()
		return nil, err
	}
	limits := transport.DefaultLimits()
	gs := grpc.NewServer(transport.GRPCOptions(limits)...)
	transport.NewServer(node, limits, nil).Register(gs)
	go func() { _ = gs.Serve(ln) }()
	return &Node{Node: node, grpc: gs, Addr: ln.Addr().String(), DataDir: dir, cfg: cfg}, nil
}
