package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/cluster/raftgroup"
)

// Tests of --body-store disk with real Raft groups on real files: the
// bodies leave the state for the group's body store, snapshots carry them
// to a restarted node and to a follower that installs one, and the space
// of consumed messages is given back.

const bodySegment = 64 << 10

// bodiesConfig is a node of one queue group keeping bodies on disk, with
// small segments and a snapshot every few entries (so the log is
// compacted and a restart or a late follower goes through a snapshot).
func bodiesConfig(t *testing.T, id string, expect int, join []string) broker.Config {
	cfg := nodeConfig(t, id, 1, expect, join)
	cfg.BodyStore = broker.BodiesOnDisk
	cfg.BodySegmentBytes = bodySegment
	g := &cfg.Cluster.Group
	g.SnapshotThreshold, g.TrailingLogs, g.SnapshotInterval = 8, 16, 50*time.Millisecond
	return cfg
}

// testBody is the i-th message's body: 1–6 KiB, different for each i.
func testBody(i int) []byte {
	b := make([]byte, 1000+(i*7919)%5000)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	copy(b, fmt.Sprintf("message %06d", i))
	return b
}

func publishBodies(t *testing.T, b *broker.Broker, queue string, from, n int) (bytes int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(30*time.Second))
	defer cancel()
	for i := from; i < from+n; i += 10 {
		var entries []broker.PublishEntry
		for j := i; j < min(i+10, from+n); j++ {
			body := testBody(j)
			bytes += len(body)
			entries = append(entries, broker.PublishEntry{RoutingKey: queue, Message: broker.Message{Body: body, Headers: map[string]broker.Value{"n": {Type: broker.ValueString, Str: fmt.Sprint(j)}}}, Mandatory: true})
		}
		out, err := b.Publish(ctx, "", "", entries)
		if err != nil {
			t.Fatalf("publish %d..: %v", i, err)
		}
		for k, o := range out {
			if o.Status != broker.PublishConfirmed {
				t.Fatalf("publish %d: %+v", i+k, o)
			}
		}
	}
	return bytes
}

// getBodies takes messages from..from+n with auto-ack Gets and checks each
// body and header.
func getBodies(t *testing.T, b *broker.Broker, queue string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(30*time.Second))
	defer cancel()
	for i := from; i < from+n; i++ {
		d, _, err := b.Get(ctx, broker.GetOptions{Queue: queue, Session: "getter", AutoAck: true})
		if err != nil || d == nil {
			t.Fatalf("get message %d: %v %v", i, d, err)
		}
		checkBody(t, i, d)
	}
}

func checkBody(t *testing.T, i int, d *broker.Delivery) {
	t.Helper()
	if !bytes.Equal(d.Message.Body, testBody(i)) {
		t.Fatalf("message %d: body of %d bytes %.14q, want %d bytes %.14q", i, len(d.Message.Body), d.Message.Body, len(testBody(i)), testBody(i))
	}
	if got := d.Message.Headers["n"]; got.Str != fmt.Sprint(i) {
		t.Fatalf("message %d: header n = %v", i, got)
	}
}

// consumeBodies receives messages from..from+n on a manual-ack consumer
// (the dispatcher's path: bodies read when sent) and acks each.
func consumeBodies(t *testing.T, b *broker.Broker, queue string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(30*time.Second))
	defer cancel()
	// Right after a leader change the node may not serve the group yet.
	var c *broker.Consumer
	waitUntil(t, 10*time.Second, "subscribed", func() (err error) {
		c, err = b.Subscribe(ctx, broker.SubscribeOptions{Queue: queue, Session: "consumer", Tag: fmt.Sprintf("c%d", from), Prefetch: 16})
		return err
	})
	defer func() {
		if err := c.CloseWait(ctx); err != nil && !errors.Is(err, broker.ErrConsumerClosed) {
			t.Errorf("close consumer: %v", err)
		}
	}()
	for i := from; i < from+n; i++ {
		d, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("next message %d: %v", i, err)
		}
		checkBody(t, i, &d)
		c.Sent(d.Tag)
		if err := c.Settle(broker.Ack, d.Tag, false); err != nil {
			t.Fatal(err)
		}
	}
}

// bodyFiles sums the sizes of the body segment files of queue group q0.
func bodyFiles(t *testing.T, cfg broker.Config) (files int, size int64) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(raftgroup.Dir(cfg.Cluster.DataDir, "q0"), "bodies", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	return len(paths), size
}

// waitSnapshot waits until n's group q0 keeps a snapshot past index
// after, and checks that it was persisted without the bodies: smaller than
// a tenth of bodyBytes.
func waitSnapshot(t *testing.T, n *testNode, after uint64, bodyBytes int) raftgroup.SnapshotInfo {
	t.Helper()
	var info raftgroup.SnapshotInfo
	waitUntil(t, 20*time.Second, "snapshot of q0", func() error {
		s, ok := n.node.Group("q0").LastSnapshot()
		if !ok || s.Index <= after {
			return fmt.Errorf("snapshot %+v (%t), want one past index %d", s, ok, after)
		}
		info = s
		return nil
	})
	if info.Size >= int64(bodyBytes)/10 {
		t.Fatalf("snapshot of %d bytes for %d bytes of bodies: not O(index)", info.Size, bodyBytes)
	}
	return info
}

// TestBodyStoreRestart: bodies published to a node keeping them on disk
// are in its body files; a snapshot taken meanwhile carries them; after a
// restart (snapshot restore over the node's own store, then the log after
// it replayed) every message is served, bodies and headers equal, in order.
func TestBodyStoreRestart(t *testing.T) {
	slow(t)
	cfg := bodiesConfig(t, "n1", 1, nil)
	n := startTestNode(t, cfg)
	waitReady(t, n)
	declareQueue(t, []*testNode{n}, "backlog")
	before := n.node.Group("q0").AppliedIndex()
	total := publishBodies(t, n.b, "backlog", 0, 300)
	snap := waitSnapshot(t, n, before+10, total)
	// The bodies are in the files but for those still in the store's
	// write buffer (a snapshot taken meanwhile synced what came before).
	files, size := bodyFiles(t, cfg)
	if files < 2 || size < int64(total)-bodystore.WriteBuffer {
		t.Fatalf("%d body files of %d bytes for %d bytes of bodies", files, size, total)
	}
	t.Logf("%d bytes of bodies in %d files (%d bytes); snapshot at %d: %d bytes", total, files, size, snap.Index, snap.Size)
	getBodies(t, n.b, "backlog", 0, 50)
	total += publishBodies(t, n.b, "backlog", 300, 20) // after the snapshot: replayed from the log

	n.stop(t)
	cfg.Cluster.RaftAddr = "127.0.0.1:0"
	n2 := startTestNode(t, cfg)
	waitReady(t, n2)
	consumeBodies(t, n2.b, "backlog", 50, 100)
	getBodies(t, n2.b, "backlog", 150, 170)
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(10*time.Second))
	defer cancel()
	if d, left, err := n2.b.Get(ctx, broker.GetOptions{Queue: "backlog", Session: "getter", AutoAck: true}); err != nil || d != nil || left != 0 {
		t.Fatalf("after draining: %v, %d left, %v", d, left, err)
	}
}

// TestBodyStoreFollowerInstallsSnapshot: a follower that was down while
// the log was compacted catches up by installing a snapshot, which carries
// the bodies into its own body store; once it leads the group it serves
// every message, bodies intact.
func TestBodyStoreFollowerInstallsSnapshot(t *testing.T) {
	slow(t)
	t.Cleanup(func() { waitProbesDone(t) })
	nodes := make([]*testNode, 3)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].node.GossipAddr()}
		}
		nodes[i] = startTestNode(t, bodiesConfig(t, fmt.Sprintf("n%d", i+1), 3, join))
	}
	for _, n := range nodes {
		waitReady(t, n)
	}
	declareQueue(t, nodes, "backlog")
	waitQueueEverywhere(t, nodes, "backlog")
	late := nodes[2]
	gossip := late.node.GossipAddr()
	late.stop(t)

	// Publish on the group's leader, well past the trailing logs.
	var leader *testNode
	waitUntil(t, 15*time.Second, "a leader of q0 and meta among n1, n2", func() error {
		leader = nil
		for _, n := range nodes[:2] {
			for _, g := range []string{"q0", "meta"} {
				if _, id := n.node.Group(g).Leader(); id == "" || id == "n3" {
					return fmt.Errorf("%s sees %s led by %q", n.id, g, id)
				}
			}
			if n.node.Group("q0").IsLeader() {
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no leader of q0 among n1, n2")
		}
		return nil
	})
	before := leader.node.Group("q0").AppliedIndex()
	total := publishBodies(t, leader.b, "backlog", 0, 400)
	waitSnapshot(t, leader, before+20, total)

	cfg := late.cfg
	cfg.Cluster.GossipAddr = gossip
	cfg.Cluster.RaftAddr = "127.0.0.1:0"
	cfg.Cluster.Join = []string{nodes[0].node.GossipAddr()}
	// n3 takes no snapshot of its own meanwhile: the one it keeps is the
	// one it installed.
	cfg.Cluster.Group.SnapshotThreshold, cfg.Cluster.Group.TrailingLogs = 1000, 2000
	back := startTestNode(t, cfg)
	waitReady(t, back)
	waitUntil(t, 20*time.Second, "n3 installed a snapshot and caught up", func() error {
		want := leader.node.Group("q0").AppliedIndex()
		// n3 keeps the snapshot it installed as it received it, complete:
		// the leader's, with the bodies read back in.
		if s, ok := back.node.Group("q0").LastSnapshot(); !ok || s.Size < int64(total)/2 || back.node.Group("q0").AppliedIndex() < want {
			return fmt.Errorf("n3 snapshot %+v (%t), applied %d of %d", s, ok, back.node.Group("q0").AppliedIndex(), want)
		}
		return nil
	})
	if files, size := bodyFiles(t, cfg); files == 0 || size < 1_000_000 {
		t.Fatalf("n3 has %d body files of %d bytes", files, size)
	}
	waitUntil(t, 20*time.Second, "n3 leads q0", func() error {
		g := back.node.Group("q0")
		if g.IsLeader() {
			return nil
		}
		if l := leaderOf(nodes[:2], "q0"); l != nil {
			err := l.TransferLeadershipTo(raft.ServerID("n3"), raft.ServerAddress(back.node.RaftAddr()))
			return fmt.Errorf("not yet (transfer: %v)", err)
		}
		return errors.New("no leader")
	})
	consumeBodies(t, back.b, "backlog", 0, 200)
	getBodies(t, back.b, "backlog", 200, 200)
}

// leaderOf returns the group named name on the node of nodes leading it.
func leaderOf(nodes []*testNode, name string) *raftgroup.Group {
	for _, n := range nodes {
		if g := n.node.Group(name); g != nil && g.IsLeader() {
			return g
		}
	}
	return nil
}

// TestBodyStoreReclaimsSpace cycles many times the segment size through a
// queue: the segments of consumed messages are deleted (at the snapshots),
// so the body files end near one segment, not near what went through.
func TestBodyStoreReclaimsSpace(t *testing.T) {
	slow(t)
	cfg := bodiesConfig(t, "n1", 1, nil)
	n := startTestNode(t, cfg)
	waitReady(t, n)
	declareQueue(t, []*testNode{n}, "cycle")
	through := 0
	for round := range 40 {
		through += publishBodies(t, n.b, "cycle", round*40, 40)
		if round%2 == 0 {
			consumeBodies(t, n.b, "cycle", round*40, 40)
		} else {
			getBodies(t, n.b, "cycle", round*40, 40)
		}
	}
	if through < 20*bodySegment {
		t.Fatalf("only %d bytes went through", through)
	}
	// One more publish makes entries past the threshold, so a snapshot
	// (and its collection) runs after the last consume.
	publishBodies(t, n.b, "cycle", 40*40, 10)
	waitUntil(t, 20*time.Second, "space reclaimed", func() error {
		files, size := bodyFiles(t, cfg)
		if size > 3*bodySegment {
			return fmt.Errorf("%d body files, %d bytes, after %d bytes went through", files, size, through)
		}
		t.Logf("%d body files, %d bytes, after %d bytes (%d segments' worth) went through", files, size, through, through/bodySegment)
		return nil
	})
	getBodies(t, n.b, "cycle", 40*40, 10)
}
