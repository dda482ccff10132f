package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
)

// declareQueue declares queue name on the meta leader.
func declareQueue(t *testing.T, nodes []*testNode, name string) {
	t.Helper()
	onMetaLeader(t, nodes, func(b *broker.Broker) error {
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(5*time.Second))
		defer cancel()
		_, _, err := b.DeclareQueue(ctx, broker.QueueSpec{Name: name})
		return err
	})
}

// waitQueueEverywhere waits until every node's meta state lists queue name.
func waitQueueEverywhere(t *testing.T, nodes []*testNode, name string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "queue "+name+" applied on every node", func() error {
		for _, n := range nodes {
			if _, err := n.b.Queue("", name); err != nil {
				return fmt.Errorf("%s: %w", n.id, err)
			}
		}
		return nil
	})
}

// leaderCounts counts, as nodes[0] sees it, how many queue groups each node
// leads.
func leaderCounts(n *testNode) map[string]int {
	counts := map[string]int{}
	for _, g := range n.node.GroupStatuses(context.Background()) {
		if g.Name != "meta" && g.LeaderID != "" {
			counts[g.LeaderID]++
		}
	}
	return counts
}

// waitSpread waits until no node leads more than ceil(k/len(nodes)) of the
// k queue groups.
func waitSpread(t *testing.T, nodes []*testNode, k int) {
	t.Helper()
	fair := (k + len(nodes) - 1) / len(nodes)
	waitUntil(t, 15*time.Second, "queue-group leaders spread", func() error {
		counts := leaderCounts(nodes[0])
		total := 0
		for id, c := range counts {
			total += c
			if c > fair {
				return fmt.Errorf("%s leads %d queue groups, fair share %d: %v", id, c, fair, counts)
			}
		}
		if total != k {
			return fmt.Errorf("%d of %d queue groups have a leader: %v", total, k, counts)
		}
		return nil
	})
}

// TestClusterFormsWithBootstrapExpect: three nodes started together with
// BootstrapExpect 3 form one cluster: every group has the same three
// voters and one leader, members gossip their addresses, a meta proposal
// is applied on every node, queue-group leaders spread, and after one node
// stops the other two elect leaders for every group and keep committing.
func TestClusterFormsWithBootstrapExpect(t *testing.T) {
	const k = 4
	nodes := startCluster(t, 3, k)
	ids := []string{"n1", "n2", "n3"}
	var leaders map[string]string
	waitUntil(t, 15*time.Second, "one cluster", func() error {
		var err error
		leaders, err = checkGroups(nodes, ids)
		return err
	})

	for _, n := range nodes {
		if got := n.node.NodeID(); got != n.id {
			t.Errorf("NodeID() = %q, want %q", got, n.id)
		}
	}
	waitUntil(t, 10*time.Second, "members gossiped", func() error {
		for _, n := range nodes {
			ms := n.node.Members()
			var got []string
			for _, m := range ms {
				if m.State != cluster.MemberAlive {
					return fmt.Errorf("%s sees %s %s", n.id, m.ID, m.State)
				}
				if want := byID(nodes, m.ID); m.RaftAddr != want.node.RaftAddr() || m.Zone != "zone-"+m.ID || m.GossipAddr != want.node.GossipAddr() {
					return fmt.Errorf("%s sees %+v", n.id, m)
				}
				got = append(got, m.ID)
			}
			if !slices.Equal(got, ids) {
				return fmt.Errorf("%s sees members %v", n.id, got)
			}
			if addr, ok := n.node.MemberGRPCAddr("n2"); !ok || addr != "grpc-n2:5680" {
				return fmt.Errorf("%s: MemberGRPCAddr(n2) = %q, %t", n.id, addr, ok)
			}
		}
		return nil
	})
	if _, ok := nodes[0].node.MemberGRPCAddr("nobody"); ok {
		t.Error("MemberGRPCAddr of an unknown node succeeded")
	}

	declareQueue(t, nodes, "formed")
	waitQueueEverywhere(t, nodes, "formed")
	waitSpread(t, nodes, k)

	// Stop the meta leader; the other two take over every group.
	stopped := byID(nodes, leaders["meta"])
	stopped.stop(t)
	var rest []*testNode
	var restIDs []string
	for _, n := range nodes {
		if n != stopped {
			rest = append(rest, n)
			restIDs = append(restIDs, n.id)
		}
	}
	waitUntil(t, 15*time.Second, "leaders after one node stopped", func() error {
		leaders, err := checkGroups(rest, ids) // still three voters
		if err != nil {
			return err
		}
		for g, l := range leaders {
			if !slices.Contains(restIDs, l) {
				return fmt.Errorf("group %s: leader %s", g, l)
			}
		}
		return nil
	})
	waitUntil(t, 10*time.Second, "stopped node seen as left", func() error {
		for _, n := range rest {
			for _, m := range n.node.Members() {
				if m.ID == stopped.id && m.State != cluster.MemberLeft {
					return fmt.Errorf("%s sees %s as %s", n.id, m.ID, m.State)
				}
			}
		}
		return nil
	})
	declareQueue(t, rest, "after-stop")
	waitQueueEverywhere(t, rest, "after-stop")
}

// TestClusterGrowsWithJoin: a fourth node started with Join joins a
// running three-node cluster as a voter of every group, catches up with
// the meta state, and the queue-group leaders spread over all four.
func TestClusterGrowsWithJoin(t *testing.T) {
	slow(t)
	const k = 4
	nodes := startCluster(t, 3, k)
	declareQueue(t, nodes, "before-join")

	n4 := startTestNode(t, nodeConfig(t, "n4", k, 1, []string{nodes[1].node.GossipAddr()}))
	waitReady(t, n4)
	all := append(slices.Clone(nodes), n4)
	waitUntil(t, 15*time.Second, "four voters in every group", func() error {
		_, err := checkGroups(all, []string{"n1", "n2", "n3", "n4"})
		return err
	})
	waitQueueEverywhere(t, all, "before-join")
	declareQueue(t, all, "after-join")
	waitQueueEverywhere(t, all, "after-join")
	waitSpread(t, all, k)
}

// TestClusterRestartRejoins: a node restarted over its data dir (on a new
// Raft port, its gossip port kept, as a restarted VM would) does not
// bootstrap again; it rejoins gossip, the group leaders update its
// address, and it catches up with what it missed.
func TestClusterRestartRejoins(t *testing.T) {
	slow(t)
	const k = 2
	nodes := startCluster(t, 3, k)
	ids := []string{"n1", "n2", "n3"}
	old := nodes[2]
	gossipAddr := old.node.GossipAddr()
	old.stop(t)
	declareQueue(t, nodes[:2], "while-down")

	cfg := old.cfg
	cfg.Cluster.GossipAddr = gossipAddr
	cfg.Cluster.Join = []string{nodes[0].node.GossipAddr()}
	n3 := startTestNode(t, cfg)
	waitReady(t, n3)
	all := []*testNode{nodes[0], nodes[1], n3}
	waitUntil(t, 15*time.Second, "restarted node back in every group", func() error {
		if _, err := checkGroups(all, ids); err != nil {
			return err
		}
		for _, g := range nodes[0].node.GroupStatuses(context.Background()) {
			for _, p := range g.Peers {
				if p.ID == "n3" && p.RaftAddr != n3.node.RaftAddr() {
					return fmt.Errorf("group %s: n3 at %s, now listening on %s", g.Name, p.RaftAddr, n3.node.RaftAddr())
				}
			}
		}
		return nil
	})
	waitQueueEverywhere(t, all, "while-down")
}

// TestClusterSixthNodeIsNonvoter: groups stop at five voters; a sixth node
// joins every group as a non-voter and still applies the meta log.
func TestClusterSixthNodeIsNonvoter(t *testing.T) {
	slow(t)
	const k = 1
	nodes := startCluster(t, 5, k)
	n6 := startTestNode(t, nodeConfig(t, "n6", k, 1, []string{nodes[0].node.GossipAddr()}))
	waitReady(t, n6)
	all := append(slices.Clone(nodes), n6)
	waitUntil(t, 15*time.Second, "n6 a non-voter of every group", func() error {
		if _, err := checkGroups(all, []string{"n1", "n2", "n3", "n4", "n5"}); err != nil {
			return err
		}
		for _, g := range nodes[0].node.GroupStatuses(context.Background()) {
			found := false
			for _, p := range g.Peers {
				found = found || p.ID == "n6" && p.Suffrage == "nonvoter"
			}
			if !found {
				return fmt.Errorf("group %s: peers %+v", g.Name, g.Peers)
			}
		}
		return nil
	})
	declareQueue(t, all, "six")
	waitQueueEverywhere(t, all, "six")
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClusterLateNodeDoesNotBootstrap: with one founder stopped, a new node
// started with the same BootstrapExpect sees exactly that many alive nodes,
// yet it must not bootstrap: the running nodes report other founders, so
// it waits and is added as a fourth voter.
func TestClusterLateNodeDoesNotBootstrap(t *testing.T) {
	slow(t)
	const k = 2
	nodes := startCluster(t, 3, k)
	nodes[2].stop(t)
	declareQueue(t, nodes[:2], "before-n4")

	cfg := nodeConfig(t, "n4", k, 3, []string{nodes[0].node.GossipAddr()})
	logs := &lockedBuffer{}
	cfg.Cluster.Logger = hclog.New(&hclog.LoggerOptions{Name: "n4", Level: hclog.Info, Output: logs})
	n4 := startTestNode(t, cfg)
	waitReady(t, n4)
	live := []*testNode{nodes[0], nodes[1], n4}
	waitUntil(t, 15*time.Second, "n4 added as a voter", func() error {
		_, err := checkGroups(live, []string{"n1", "n2", "n3", "n4"})
		return err
	})
	waitQueueEverywhere(t, live, "before-n4")
	if strings.Contains(logs.String(), "bootstrapped raft group") {
		t.Fatalf("n4 bootstrapped a cluster of its own:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "a running cluster was founded without this node") &&
		!strings.Contains(logs.String(), "node belongs to a cluster") {
		t.Errorf("n4 did not log how it joined:\n%s", logs)
	}
}
