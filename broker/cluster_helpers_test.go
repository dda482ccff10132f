package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/transport"
	"google.golang.org/grpc"
)

// Helpers for in-process clusters of brokers on loopback: real Raft mux
// ports and memberlist, OS-picked ports, fast timings.

// slow skips the test in the quick tier (go test -short, as
// scripts/test.sh --quick runs it): the cluster tests that grow, restart or
// secure a cluster take 6–12 s each; one formation test stays in the tier.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow cluster test: skipped with -short")
	}
}

// scaleTimeout multiplies d by WARREN_TEST_TIMEOUT_SCALE (default 1).
func scaleTimeout(d time.Duration) time.Duration {
	if f, err := strconv.ParseFloat(os.Getenv("WARREN_TEST_TIMEOUT_SCALE"), 64); err == nil && f > 0 {
		return time.Duration(float64(d) * f)
	}
	return d
}

// waitUntil polls f every 20 ms until it returns nil, and fails the test
// with f's last error once d (scaled) has passed.
func waitUntil(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	d = scaleTimeout(d)
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v: %v", what, d, err)
		}
		<-tick.C
	}
}

// testNode is one in-process node of a test cluster.
type testNode struct {
	id   string
	cfg  broker.Config
	b    *broker.Broker
	node *cluster.Node // b.Node()
	peer *grpc.Server  // NodeService on the cluster port
	once sync.Once
}

// stop closes the node once.
func (n *testNode) stop(t testing.TB) {
	n.once.Do(func() {
		if err := n.b.Close(); err != nil {
			t.Errorf("close %s: %v", n.id, err)
		}
		if n.peer != nil {
			n.peer.Stop()
		}
	})
}

// nodeConfig is a loopback configuration for node id: OS-picked Raft and
// gossip ports, Raft and gossip timings for one host.
func nodeConfig(t testing.TB, id string, queueGroups, expect int, join []string) broker.Config {
	cfg := broker.DefaultConfig()
	cfg.QueueGroups = queueGroups
	c := &cfg.Cluster
	c.NodeID = id
	c.Zone = "zone-" + id
	c.DataDir = t.TempDir()
	c.RaftAddr = "127.0.0.1:0"
	c.GossipAddr = "127.0.0.1:0"
	c.GossipLocal = true
	c.ReconcileInterval = 100 * time.Millisecond
	c.BootstrapExpect = expect
	c.Join = join
	c.GRPCAddr = "grpc-" + id + ":5680" // gossiped, never dialled in these tests
	g := raftgroup.FastConfig()
	g.HeartbeatTimeout = scaleTimeout(g.HeartbeatTimeout)
	g.ElectionTimeout = scaleTimeout(g.ElectionTimeout)
	g.LeaderLeaseTimeout = scaleTimeout(g.LeaderLeaseTimeout)
	c.Group = g
	w := &logWriter{t: t}
	// Registered before the node's own cleanup, so it runs after it.
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	cfg.Cluster.Logger = hclog.New(&hclog.LoggerOptions{
		Name: id, Level: hclog.LevelFromString(envOr("WARREN_TEST_LOG_LEVEL", "warn")), Output: w,
	})
	return cfg
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// logWriter sends log lines to t.Log until the test ends.
type logWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startTestNode starts a node with cfg; it is closed at cleanup.
func startTestNode(t testing.TB, cfg broker.Config) *testNode {
	t.Helper()
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Cluster.NodeID, err)
	}
	// The node-to-node API on the cluster port, as warren-node serves it:
	// the cluster asks peers through it (leader spread, silence watch).
	peer := grpc.NewServer()
	transport.NewNodeServer(b).Register(peer)
	go func() { _ = peer.Serve(b.Node().PeerListener()) }()
	n := &testNode{id: cfg.Cluster.NodeID, cfg: cfg, b: b, node: b.Node(), peer: peer}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// startCluster starts size nodes with BootstrapExpect size, all joining
// the first, and waits until each is ready.
func startCluster(t testing.TB, size, queueGroups int) []*testNode {
	t.Helper()
	// Registered before any node's cleanup, so it runs after all of them.
	t.Cleanup(func() { waitProbesDone(t) })
	nodes := make([]*testNode, size)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].node.GossipAddr()}
		}
		nodes[i] = startTestNode(t, nodeConfig(t, "n"+strconv.Itoa(i+1), queueGroups, size, join))
	}
	for _, n := range nodes {
		waitReady(t, n)
	}
	return nodes
}

// waitProbesDone waits until no memberlist probe is in flight. Shutdown
// does not wait for a probe of a peer that stopped first; it ends one probe
// interval later, and goleak (TestMain) must not see it.
func waitProbesDone(t testing.TB) {
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(scaleTimeout(5 * time.Second))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("memberlist.(*Memberlist).probeNode")) {
			return
		}
		<-tick.C
	}
	t.Log("a memberlist probe is still running")
}

// waitReady waits for the node's WaitReady.
func waitReady(t testing.TB, n *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(30*time.Second))
	defer cancel()
	if err := n.b.WaitReady(ctx); err != nil {
		t.Fatalf("%s not ready: %v", n.id, err)
	}
}

// checkGroups reports an error unless every node sees, for every group,
// exactly the voters ids and the same known leader, which is one of them.
// It returns the leader of each group.
func checkGroups(nodes []*testNode, ids []string) (map[string]string, error) {
	leaders := map[string]string{}
	for _, n := range nodes {
		for _, g := range n.node.GroupStatuses(context.Background()) {
			var voters []string
			for _, p := range g.Peers {
				if p.Suffrage == "voter" {
					voters = append(voters, p.ID)
				}
			}
			if !slices.Equal(voters, ids) {
				return nil, fmt.Errorf("%s: group %s has voters %v, want %v", n.id, g.Name, voters, ids)
			}
			if g.LeaderID == "" || !slices.Contains(ids, g.LeaderID) {
				return nil, fmt.Errorf("%s: group %s has leader %q", n.id, g.Name, g.LeaderID)
			}
			if l, ok := leaders[g.Name]; ok && l != g.LeaderID {
				return nil, fmt.Errorf("group %s: leaders %s and %s", g.Name, l, g.LeaderID)
			}
			leaders[g.Name] = g.LeaderID
		}
	}
	return leaders, nil
}

// byID returns the node with id among nodes.
func byID(nodes []*testNode, id string) *testNode {
	for _, n := range nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// onMetaLeader runs op on the node that leads the meta group, retrying
// while leadership moves.
func onMetaLeader(t testing.TB, nodes []*testNode, op func(*broker.Broker) error) {
	t.Helper()
	waitUntil(t, 10*time.Second, "operation on the meta leader", func() error {
		for _, n := range nodes {
			for _, g := range n.node.GroupStatuses(context.Background()) {
				if g.Name != "meta" || g.LeaderID != n.id {
					continue
				}
				err := op(n.b)
				if _, elsewhere := broker.LeaderElsewhere(err); elsewhere || errors.Is(err, raftgroup.ErrOutcomeUnknown) {
					return err
				}
				if err != nil {
					t.Fatalf("on meta leader %s: %v", n.id, err)
				}
				return nil
			}
		}
		return errors.New("no node leads the meta group")
	})
}
