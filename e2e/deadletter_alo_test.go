package e2e_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	"google.golang.org/grpc/codes"
)

// aloArgs are the arguments of an at-least-once dead-lettering queue.
func aloArgs(dlx string) map[string]any {
	return map[string]any{
		"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish", "x-max-length": 100,
		"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "t",
	}
}

// rejectAll takes n messages from queue and rejects each without requeue.
func rejectAll(t *testing.T, c *client.Client, queue string, n int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for range n {
		d := getOne(t, c, queue, false)
		if err := d.Reject(ctx, client.RejectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitBodies waits until queue holds exactly want (in any order; each
// once), taking them, and returns how many of them came flagged
// redelivered. A failed get (a node just stopped: the SDK does not retry
// a get) is tried again.
func waitBodies(t *testing.T, c *client.Client, queue string, want []string) (redelivered int) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	var got []string
	eventually(t, 30*time.Second, fmt.Sprintf("%d dead letters in %s", len(want), queue), func() error {
		for {
			d, ok, err := c.Get(ctx, queue, client.GetOptions{AutoAck: true})
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			got = append(got, string(d.Body))
			if d.Redelivered {
				redelivered++
			}
		}
		if len(got) < len(want) {
			return fmt.Errorf("%d of %d", len(got), len(want))
		}
		return nil
	})
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Fatalf("%s holds %v, want %v", queue, got, w)
	}
	return redelivered
}

func bodies(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// TestAtLeastOnceDeadLettering (issue 12 item 8): with
// x-dead-letter-strategy at-least-once a dead letter the dead-letter
// exchange cannot route yet is kept, across a restart, and delivered once
// a binding appears; the strategy needs a dead-letter exchange and
// overflow reject-publish. Dead letters the restarted node inherited in
// its outbox come flagged redelivered (an earlier leader may have
// published them); one dead-lettered under the present leader does not,
// even after its publishes routed nowhere for a while.
func TestAtLeastOnceDeadLettering(t *testing.T) {
	dir := t.TempDir()
	n := transporttest.Start(t, transporttest.Options{DataDir: dir})
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 90*time.Second)

	_, err := c.DeclareQueue(ctx, "alo.bad", client.QueueOptions{Args: map[string]any{"x-dead-letter-strategy": "at-least-once", "x-dead-letter-exchange": "x"}})
	wantCode(t, "at-least-once with drop-head", err, codes.InvalidArgument)
	_, err = c.DeclareQueue(ctx, "alo.bad", client.QueueOptions{Args: map[string]any{"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}})
	wantCode(t, "at-least-once without a dead-letter exchange", err, codes.InvalidArgument)

	declareExchange(t, c, "alo.dlx", "direct")
	declareQueue(t, c, "alo.target", nil)
	declareQueue(t, c, "alo.src", aloArgs("alo.dlx"))
	want := bodies("m", 5)
	for _, b := range want {
		publish(t, c, "", "alo.src", client.Message{Body: []byte(b)}, client.Confirmed)
	}
	rejectAll(t, c, "alo.src", len(want))
	waitCounts(t, c, "alo.src", 0, 0)
	if got := drainGets(t, c, "alo.target"); len(got) != 0 {
		t.Fatalf("unbound dead-letter exchange delivered %v", got)
	}
	// A dead-letter exchange that does not exist yet holds back its own
	// dead letters only.
	declareQueue(t, c, "alo.target2", nil)
	declareQueue(t, c, "alo.src2", aloArgs("alo.later"))
	want2 := bodies("n", 2)
	for _, b := range want2 {
		publish(t, c, "", "alo.src2", client.Message{Body: []byte(b)}, client.Confirmed)
	}
	rejectAll(t, c, "alo.src2", len(want2))

	// They wait in the outbox, in the replicated state: across a restart.
	n.Stop()
	n = transporttest.Start(t, transporttest.Options{DataDir: dir})
	c = newClient(t, n.Addr)
	bind(t, c, "alo.dlx", "alo.target", "t", nil)
	if r := waitBodies(t, c, "alo.target", want); r != len(want) {
		t.Errorf("%d of %d inherited dead letters came flagged redelivered, want all", r, len(want))
	}
	declareExchange(t, c, "alo.later", "fanout")
	bind(t, c, "alo.later", "alo.target2", "", nil)
	if r := waitBodies(t, c, "alo.target2", want2); r != len(want2) {
		t.Errorf("%d of %d inherited dead letters came flagged redelivered, want all", r, len(want2))
	}
	d := func() *client.Delivery {
		publish(t, c, "", "alo.src", client.Message{Body: []byte("x")}, client.Confirmed)
		rejectAll(t, c, "alo.src", 1)
		return getOne(t, c, "alo.target", true)
	}()
	if ds := deaths(t, d); ds[0]["reason"] != "rejected" || ds[0]["queue"] != "alo.src" {
		t.Fatalf("x-death %v", ds)
	}
	if d.Redelivered {
		t.Error("a dead letter published once by the leader that took it came flagged redelivered")
	}

	// Routed nowhere for a while (the outbox tries again every second),
	// then routed: still a first copy.
	declareExchange(t, c, "alo.dlx3", "direct")
	declareQueue(t, c, "alo.target3", nil)
	declareQueue(t, c, "alo.src3", aloArgs("alo.dlx3"))
	publish(t, c, "", "alo.src3", client.Message{Body: []byte("y")}, client.Confirmed)
	rejectAll(t, c, "alo.src3", 1)
	waitCounts(t, c, "alo.src3", 0, 0)
	time.Sleep(1500 * time.Millisecond) // the duration is the point: the outbox's first try and a retry (every second) route nowhere
	bind(t, c, "alo.dlx3", "alo.target3", "t", nil)
	if r := waitBodies(t, c, "alo.target3", []string{"y"}); r != 0 {
		t.Error("a dead letter whose earlier publishes routed nowhere came flagged redelivered")
	}
}

// TestAtLeastOnceDeadLetteringLeaderKill: in a 3-node cluster, dead
// letters kept by the source queue's group (their exchange routes nowhere
// yet) are published by the group's next leader after the leader node
// stops: the outbox is in the replicated state, not in the leader.
func TestAtLeastOnceDeadLetteringLeaderKill(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	c := newClient(t, nodes[0].Addr)
	declareExchange(t, c, "alo.dlx", "direct")
	declareQueue(t, c, "alo.target", nil)
	declareQueue(t, c, "alo.src", aloArgs("alo.dlx"))
	want := bodies("k", 20)
	for _, b := range want {
		publish(t, c, "", "alo.src", client.Message{Body: []byte(b)}, client.Confirmed)
	}
	rejectAll(t, c, "alo.src", len(want))
	waitCounts(t, c, "alo.src", 0, 0)

	leaderID := queueLeaderID(t, nodes[0].Dial(t), "alo.src")
	var left []*transporttest.Node
	for _, n := range nodes {
		if n.Broker.Node().NodeID() == leaderID {
			n.Stop()
			continue
		}
		left = append(left, n)
	}
	if len(left) != 2 {
		t.Fatalf("leader %q is none of the nodes", leaderID)
	}
	c = newClient(t, left[0].Addr)
	bind(t, c, "alo.dlx", "alo.target", "t", nil)
	if r := waitBodies(t, c, "alo.target", want); r != len(want) {
		t.Errorf("%d of %d dead letters the new leader inherited came flagged redelivered, want all", r, len(want))
	}
}
