package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	"google.golang.org/grpc/codes"
)

// TestSACAndConsumerTimeoutSurviveLeaderKill (issue 12 items 2 and 7, on
// three node processes): the leader of the queues' group is killed (-9).
// The single active consumer stays the active one across the change (the
// registration order is in the replicated state): it re-attaches, gets its
// unacked deliveries again, and when it goes the waiting consumer takes
// over with those first. A delivery's consumer timeout counts from its
// assignment in the replicated state: the new leader ends the consumer
// when the timeout, counted from before the kill, runs out — not a full
// timeout after the change.
func TestSACAndConsumerTimeoutSurviveLeaderKill(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 3)
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "sac3", map[string]any{"x-single-active-consumer": true})
	waitProcLeadersSpread(t, admin, procs)
	leader := procQueueLeader(t, procs, procs[0], "sac3")
	// A queue with a consumer timeout on the same group (placement goes
	// round the groups).
	const timeout = 6 * time.Second
	slowQ := ""
	for i := range 8 {
		name := fmt.Sprintf("slow%d", i)
		declareQueue(t, admin, name, map[string]any{"x-consumer-timeout": timeout.Milliseconds()})
		if procQueueLeader(t, procs, procs[0], name) == leader {
			slowQ = name
			break
		}
	}
	if slowQ == "" {
		t.Fatal("no queue on the group of sac3's leader")
	}
	var addrs []string
	for _, p := range procs {
		if p != leader {
			addrs = append(addrs, p.grpcAddr)
		}
	}
	ca := newClientAddrs(t, addrs)
	cb := newClientAddrs(t, []string{addrs[1], addrs[0]})
	waitQueueKnown(t, ca, "sac3")
	waitQueueKnown(t, cb, "sac3")
	ctx := testCtx(t, 120*time.Second)

	a := subscribe(t, ca, "sac3", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "A"})
	b := subscribe(t, cb, "sac3", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "B"})
	if !a.Active() || b.Active() {
		t.Fatalf("active: A %t, B %t", a.Active(), b.Active())
	}
	for _, m := range []string{"m1", "m2"} {
		publish(t, ca, "", "sac3", client.Message{Body: []byte(m)}, client.Confirmed)
	}
	recv(t, a, 10*time.Second)
	recv(t, a, 10*time.Second)

	stuck := subscribe(t, ca, slowQ, client.ConsumeOptions{ConsumerTag: "stuck"})
	publish(t, ca, "", slowQ, client.Message{Body: []byte("x")}, client.Confirmed)
	recv(t, stuck, 10*time.Second)
	assigned := time.Now()      // at or after the assignment
	time.Sleep(2 * time.Second) // the duration is the point: part of the timeout passes under the old leader
	leader.kill()
	killed := time.Now()

	// The timeout ends the consumer under the new leader, counted from the
	// assignment: its delivery is ready again (no consumer takes it).
	eventually(t, 30*time.Second, "the stuck delivery returned by the timeout", func() error {
		got, err := getCounts(ctx, ca, slowQ) // admin's node may be the one killed
		if err != nil {
			return err
		}
		if got.Ready != 1 || got.Unacked != 0 {
			return fmt.Errorf("%s: %v", slowQ, got)
		}
		return nil
	})
	returned := time.Since(assigned)
	t.Logf("leader killed %v after the assignment; delivery returned %v after it (timeout %v)",
		killed.Sub(assigned).Round(time.Millisecond), returned.Round(time.Millisecond), timeout)
	if returned < timeout-time.Second {
		t.Fatalf("returned %v after the assignment, before the timeout %v", returned, timeout)
	}
	if reset := killed.Sub(assigned) + timeout; returned >= reset {
		t.Fatalf("returned %v after the assignment: the timeout restarted at the leader change (%v)", returned, reset)
	}

	// A and B re-attach; A is still the active one and gets m1, m2 again.
	for _, sub := range []*client.Subscription{a, b} {
		select {
		case <-sub.Done():
		case <-time.After(scaled(30 * time.Second)):
			t.Fatalf("subscription %s still open after its leader was killed", sub.ConsumerTag())
		}
	}
	a = subscribe(t, ca, "sac3", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "A"})
	b = subscribe(t, cb, "sac3", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "B"})
	for _, want := range []string{"m1", "m2"} {
		if d := recv(t, a, 20*time.Second); string(d.Body) != want || !d.Redelivered {
			t.Fatalf("A after the change: %q redelivered=%t, want %q redelivered", d.Body, d.Redelivered, want)
		}
	}
	if !a.Active() || b.Active() {
		t.Fatalf("after the change: A active %t, B active %t", a.Active(), b.Active())
	}
	expectNone(t, b, 300*time.Millisecond, nil)
	// A goes: B takes over, m1 and m2 first.
	_ = a.Close()
	for _, want := range []string{"m1", "m2"} {
		d := recv(t, b, 20*time.Second)
		if string(d.Body) != want || !d.Redelivered {
			t.Fatalf("B: %q redelivered=%t, want %q redelivered", d.Body, d.Redelivered, want)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "B active", func() error {
		if !b.Active() {
			return fmt.Errorf("B not active")
		}
		return nil
	})

	// Rates (item 12) through either surviving node, one of which does not
	// lead the group: the new leader counted B's deliveries and acks.
	for _, cl := range []*client.Client{ca, cb} {
		eventually(t, 10*time.Second, "rates of sac3", func() error {
			q, err := queueInfo(ctx, cl, "sac3")
			if err != nil {
				return err
			}
			if !q.Rates.Known || q.Rates.Deliver60s*60 < 1.5 || q.Rates.Ack60s*60 < 1.5 {
				return fmt.Errorf("rates %+v", q.Rates)
			}
			return nil
		})
	}
}

// TestQueueFeaturesSurviveRestart: kill -9 and restart of a node keeps a
// priority queue's order and a queue's x-expires timer (the last use is
// in the replicated state, not restarted by the restart).
func TestQueueFeaturesSurviveRestart(t *testing.T) {
	slow(t)
	p := startNodeProc(t, t.TempDir())
	c := newClient(t, p.grpcAddr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "prio", map[string]any{"x-max-priority": int64(5)})
	for i, prio := range []uint8{0, 5, 2, 5} {
		publish(t, c, "", "prio", client.Message{Body: []byte(fmt.Sprintf("%d-p%d", i, prio)), Priority: prio}, client.Confirmed)
	}
	declared := time.Now()
	declareQueue(t, c, "exp", map[string]any{"x-expires": int64(4000)})
	_ = c.Close()
	p.kill()
	p.restart()
	c = newClient(t, p.grpcAddr)
	var got []string
	for range 4 {
		d, _, err := c.Get(ctx, "prio", client.GetOptions{AutoAck: true})
		if err != nil || d == nil {
			t.Fatalf("get after restart: %v %v", d, err)
		}
		got = append(got, string(d.Body))
	}
	if want := "1-p5 3-p5 2-p2 0-p0"; fmt.Sprint(got) != "["+want+"]" {
		t.Fatalf("after restart: %v, want [%s]", got, want)
	}
	restarted := time.Now()
	gone := waitGone(t, c, "exp", 20*time.Second)
	t.Logf("x-expires 4s: deleted %v after the declaration, %v after the restart", gone.Sub(declared).Round(time.Millisecond), gone.Sub(restarted).Round(time.Millisecond))
	if gone.Sub(declared) < 4*time.Second {
		t.Fatalf("deleted %v after its declaration, x-expires 4s", gone.Sub(declared))
	}
}

// TestCancelNotificationThroughAFollower (issue 12 item 6, in a cluster):
// a consumer whose stream a follower proxies to the queue's leader, and
// one connected to the leader itself, both see NOT_FOUND "queue deleted"
// when the queue is deleted through a third node; so does one waiting its
// turn on a single-active-consumer queue.
func TestCancelNotificationThroughAFollower(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{QueueGroups: 1})
	admin := newClient(t, nodes[0].Addr)
	declareQueue(t, admin, "gone3", map[string]any{"x-single-active-consumer": true})
	leaderID := queueLeaderID(t, nodes[0].Dial(t), "gone3")
	var subs []*client.Subscription
	for i, n := range nodes {
		c := newClient(t, n.Addr, client.WithoutDirectConsume())
		waitQueueKnown(t, c, "gone3")
		subs = append(subs, subscribe(t, c, "gone3", client.ConsumeOptions{ConsumerTag: fmt.Sprint("c", i)}))
	}
	waitConsumers(t, admin, "gone3", 3)
	var via *transporttest.Node
	for _, n := range nodes {
		if n.Broker.Node().NodeID() != leaderID {
			via = n
		}
	}
	ctx := testCtx(t, 30*time.Second)
	if _, err := newClient(t, via.Addr).DeleteQueue(ctx, "gone3", client.DeleteQueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		waitEnded(t, s, codes.NotFound, "queue deleted")
	}
}
