// Package transporttest starts real Warren nodes in-process for tests: a
// broker.Broker with its Raft groups on bolt files in a temp dir, gossip on
// a loopback port, and the BrokerService and NodeService on a loopback
// gRPC port the OS picks. Start runs one node (or one that joins a running
// cluster), StartCluster a cluster of several.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/transport"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Node is an in-process node serving gRPC on Addr.
type Node struct {
	Addr    string
	DataDir string
	Broker  *broker.Broker
	// API is the client port's BrokerService (its Drain, its Stats).
	API *transport.Server
	// Probes is the client port's health service, SERVING once the node
	// serves.
	Probes *transport.Probes
	// Conns is the client port's listener (its open connections).
	Conns *transport.ConnListener
	grpc  *grpc.Server
	peers *grpc.Server // the cluster port's node-to-node gRPC
	cfg   broker.Config
}

// Options tune a test node; the zero value is a 4-group single node.
type Options struct {
	QueueGroups  int
	DataDir      string
	SessionGrace time.Duration
	Limits       *transport.Limits
	// NodeID defaults to "test-node" (StartCluster: "node1", "node2", …).
	NodeID string
	// Join lists gossip addresses to join; a node with Join waits until
	// the cluster's leaders have added it (Node.Broker.Node().GossipAddr gives a
	// running node's address).
	Join []string
	// BootstrapExpect defaults to 1 (StartCluster: the cluster's size).
	BootstrapExpect int
	// Access, when set, turns on authentication and authorization as
	// warren-node does by default (the first user: guest/guest).
	Access *access.Options
	// GossipKey, when set, encrypts gossip (cluster.Config.GossipKey: it
	// seeds the keyring persisted in the node's data dir).
	GossipKey []byte
}

// TimeoutScale multiplies test deadlines (WARREN_TEST_TIMEOUT_SCALE).
func TimeoutScale() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("WARREN_TEST_TIMEOUT_SCALE")); err == nil && s > 0 {
		return time.Duration(s)
	}
	return 1
}

// Start runs a broker for the test and stops it at cleanup: a single node,
// or with o.Join a node that joins a running cluster. It returns once the
// node is ready (WaitReady).
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	n := newNode(t, o)
	ln := n.launch(t)
	n.ready(t)
	if err := n.serve(ln, o); err != nil {
		t.Fatal(err)
	}
	return n
}

// StartCluster starts size nodes ("node1" … "nodeN") that form one cluster
// with BootstrapExpect size: node1 first, the others joining it. Each gets
// its own data dir (o.DataDir is ignored). It returns once every node is
// ready; all are stopped at cleanup.
func StartCluster(t testing.TB, size int, o Options) []*Node {
	t.Helper()
	o.DataDir = ""
	o.BootstrapExpect = size
	nodes := make([]*Node, size)
	lns := make([]net.Listener, size)
	for i := range nodes {
		oi := o
		oi.NodeID = "node" + strconv.Itoa(i+1)
		if i > 0 {
			oi.Join = []string{nodes[0].Broker.Node().GossipAddr()}
		}
		nodes[i] = newNode(t, oi)
		lns[i] = nodes[i].launch(t)
	}
	for i, n := range nodes {
		n.ready(t)
		if err := n.serve(lns[i], o); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// newNode fills in the defaults and registers Stop at cleanup.
func newNode(t testing.TB, o Options) *Node {
	if o.QueueGroups == 0 {
		o.QueueGroups = 4
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.NodeID == "" {
		o.NodeID = "test-node"
	}
	if o.BootstrapExpect == 0 {
		o.BootstrapExpect = 1
	}
	cfg := testConfig(o.DataDir)
	cfg.Cluster.NodeID = o.NodeID
	cfg.QueueGroups = o.QueueGroups
	cfg.SessionGrace = o.SessionGrace
	cfg.Cluster.Join = o.Join
	cfg.Cluster.BootstrapExpect = o.BootstrapExpect
	cfg.Cluster.GossipKey = o.GossipKey
	w := &testWriter{t: t}
	t.Cleanup(w.close) // registered first: runs after Stop
	cfg.Cluster.Logger = hclog.New(&hclog.LoggerOptions{Name: o.NodeID, Level: hclog.Warn, Output: w})
	n := &Node{DataDir: o.DataDir, cfg: cfg}
	t.Cleanup(n.Stop)
	return n
}

// testConfig is a loopback configuration with OS-picked ports and fast
// Raft and gossip timings.
func testConfig(dir string) broker.Config {
	cfg := broker.DefaultConfig()
	c := &cfg.Cluster
	c.NodeID = "test-node"
	c.DataDir = dir
	c.RaftAddr = "127.0.0.1:0"
	c.GossipAddr = "127.0.0.1:0"
	c.GossipLocal = true
	c.ReconcileInterval = 200 * time.Millisecond
	c.Group = raftgroup.FastConfig()
	cfg.SessionGrace = 0
	return cfg
}

// launch binds the gRPC port (so that the node can gossip its address)
// and starts the cluster node.
func (n *Node) launch(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.cfg.Cluster.GRPCAddr = ln.Addr().String()
	b, err := broker.Start(n.cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("start node %s: %v", n.cfg.Cluster.NodeID, err)
	}
	n.Broker = b
	return ln
}

// ready waits for WaitReady.
func (n *Node) ready(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*TimeoutScale())
	defer cancel()
	if err := n.Broker.WaitReady(ctx); err != nil {
		t.Fatalf("node %s not ready: %v", n.cfg.Cluster.NodeID, err)
	}
}

// serve serves the broker and node services on ln.
func (n *Node) serve(ln net.Listener, o Options) error {
	limits := transport.DefaultLimits()
	if o.Limits != nil {
		limits = *o.Limits
	}
	api := transport.NewServer(n.Broker, limits, nil)
	if o.Access != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*TimeoutScale())
		err := n.Broker.WaitBootstrapped(ctx)
		cancel()
		authn, err2 := access.NewAuthenticator(n.Broker, *o.Access)
		if err != nil || err2 != nil {
			return fmt.Errorf("access on node %s: %w", n.cfg.Cluster.NodeID, errors.Join(err, err2))
		}
		api.SetAccess(transport.Access{Authenticator: authn, Authorizer: access.NewAuthorizer(n.Broker)})
	}
	gs := grpc.NewServer(append(append(transport.GRPCOptions(limits), transport.ClientCaps(limits)...), api.Interceptors()...)...)
	api.Register(gs)
	api.AccessServer().Register(gs)
	n.API, n.Probes = api, api.RegisterProbes(gs)
	n.Probes.Serving()
	n.Conns = transport.LimitConnections(ln, limits.MaxConnections, nil)
	go func() { _ = gs.Serve(n.Conns) }()
	// Peers call the NodeService, and the BrokerService they proxy to, on
	// the cluster port, as cmd/node serves them.
	peers := grpc.NewServer(transport.GRPCOptions(limits)...)
	api.Register(peers)
	transport.NewNodeServer(n.Broker).Register(peers)
	go func() { _ = peers.Serve(n.Broker.Node().PeerListener()) }()
	n.grpc, n.peers, n.Addr = gs, peers, ln.Addr().String()
	return nil
}

// Stop stops serving and closes the node; idempotent.
func (n *Node) Stop() {
	if n.grpc != nil {
		n.grpc.Stop()
		n.grpc = nil
	}
	if n.peers != nil {
		n.peers.Stop()
		n.peers = nil
	}
	if n.Broker != nil {
		_ = n.Broker.Close()
		n.Broker = nil
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

// testWriter sends log lines to t.Log until close: some of memberlist's
// goroutines (an in-flight probe) outlive its Shutdown, and t.Log after
// the test panics.
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// StartMain runs a node for a whole test binary (from TestMain, where there
// is no testing.TB): data in dir, gRPC on a loopback port. Call Stop when
// the tests are done.
func StartMain(dir string) (*Node, error) {
	cfg := testConfig(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	cfg.Cluster.GRPCAddr = ln.Addr().String()
	node, err := broker.Start(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*TimeoutScale())
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		ln.Close()
		node.Close()
		return nil, err
	}
	n := &Node{Broker: node, DataDir: dir, cfg: cfg}
	return n, n.serve(ln, Options{})
}
