package e2e_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// queueGroupName returns the Raft group ("q0", …) that holds queue.
func queueGroupName(t *testing.T, raw pb.BrokerServiceClient, queue string) string {
	t.Helper()
	qs, err := raw.ListQueues(testCtx(t, 10*time.Second), &pb.ListQueuesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs.GetQueues() {
		if q.GetName() == queue {
			return "q" + strconv.Itoa(int(q.GetGroup()))
		}
	}
	t.Fatalf("queue %s not listed", queue)
	return ""
}

// TestSessionLivenessAcrossNodes: a client connected to one node holds an
// unacked get of a queue whose group leader is another node. When that
// leadership moves to a third node, the new leader asks the other nodes
// whether the session is still served: it is, so after the grace period
// the get is still the client's and its ack works. When the node the
// session is connected to stops, the leader sees the session served
// nowhere and returns its get to the queue. (The stop here is graceful;
// TestGetOfKilledNodesSessionReturns kills the node.)
func TestSessionLivenessAcrossNodes(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{SessionGrace: 300 * time.Millisecond})
	waitLeadersSpread(t, nodes)
	admin := newClient(t, nodes[0].Addr)
	declareQueue(t, admin, "held", nil)
	leader := queueLeader(t, nodes, "held")
	holderNode, third := (leader+1)%3, (leader+2)%3
	group := queueGroupName(t, nodes[0].Dial(t), "held")
	publishIDs(t, admin, "held", "m", 3)
	waitCounts(t, admin, "held", 3, 0)

	holder := newClient(t, nodes[holderNode].Addr)
	waitQueueKnown(t, holder, "held")
	ctx := testCtx(t, 60*time.Second)
	d, ok, err := holder.Get(ctx, "held", client.GetOptions{})
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	waitCounts(t, admin, "held", 2, 1)

	target := nodes[third].Broker.Node().NodeID()
	eventually(t, 30*time.Second, "leadership of "+group+" moved to "+target, func() error {
		if id := queueLeaderID(t, nodes[0].Dial(t), "held"); id == target {
			return nil
		}
		cur := queueLeader(t, nodes, "held")
		return nodes[cur].Broker.Node().TransferLeadership(group, target)
	})
	// The new leader's grace (300 ms) and first liveness check pass; the
	// get must stay checked out all along.
	for end := time.Now().Add(scaled(2 * time.Second)); time.Now().Before(end); time.Sleep(pollEvery) {
		c, err := getCounts(ctx, admin, "held")
		if err != nil {
			t.Fatal(err)
		}
		if c.Ready != 2 || c.Unacked != 1 {
			t.Fatalf("counts %v: the live session's get was returned", c)
		}
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("ack after the leadership moved: %v", err)
	}
	waitCounts(t, admin, "held", 2, 0)

	// A second get, then the holder's node stops: the get comes back.
	if _, ok, err := holder.Get(ctx, "held", client.GetOptions{}); err != nil || !ok {
		t.Fatalf("second get: %v %v", ok, err)
	}
	waitCounts(t, admin, "held", 1, 1)
	obs := newClient(t, nodes[third].Addr)
	waitQueueKnown(t, obs, "held")
	nodes[holderNode].Stop()
	eventually(t, 30*time.Second, "the get of a session whose node stopped returned to the queue", func() error {
		c, err := getCounts(ctx, obs, "held")
		if err != nil {
			return err
		}
		if c.Ready != 2 || c.Unacked != 0 {
			return fmt.Errorf("counts %v, want 2 ready", c)
		}
		return nil
	})
}

// TestGetOfKilledNodesSessionReturns: a client holds an unacked get through
// a follower of the queue's group; that follower is killed with SIGKILL,
// so nothing tells the leader that the session ended. The leader's
// periodic liveness check finds the session served by no alive node and
// returns the get to the queue.
func TestGetOfKilledNodesSessionReturns(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 3)
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "orphan", nil)
	leader := procQueueLeader(t, procs, procs[0], "orphan")
	var holderProc, observer *nodeProc
	for _, p := range procs {
		switch {
		case p == leader:
		case holderProc == nil:
			holderProc = p
		default:
			observer = p
		}
	}
	obs := newClient(t, observer.grpcAddr)
	waitQueueKnown(t, obs, "orphan")
	publishIDs(t, obs, "orphan", "o", 2)
	waitCounts(t, obs, "orphan", 2, 0)
	holder := newClient(t, holderProc.grpcAddr)
	waitQueueKnown(t, holder, "orphan")
	ctx := testCtx(t, 60*time.Second)
	if _, ok, err := holder.Get(ctx, "orphan", client.GetOptions{}); err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	waitCounts(t, obs, "orphan", 1, 1)
	holderProc.kill()
	start := time.Now()
	eventually(t, 40*time.Second, "the get of the killed node's session back in the queue", func() error {
		c, err := getCounts(ctx, obs, "orphan")
		if err != nil {
			return err
		}
		if c.Ready != 2 || c.Unacked != 0 {
			return fmt.Errorf("counts %v, want 2 ready", c)
		}
		return nil
	})
	t.Logf("returned %v after kill -9 of the session's node", time.Since(start).Round(100*time.Millisecond))
}
