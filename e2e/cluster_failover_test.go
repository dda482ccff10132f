package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// procQueueLeader returns the process that leads queue's group, asking via.
func procQueueLeader(t *testing.T, procs []*nodeProc, via *nodeProc, queue string) *nodeProc {
	t.Helper()
	cc, err := grpc.NewClient(via.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), guestLogin())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	id := queueLeaderID(t, pb.NewBrokerServiceClient(cc), queue)
	for _, p := range procs {
		if p.id == id {
			return p
		}
	}
	t.Fatalf("leader %q of queue %s is none of the processes", id, queue)
	return nil
}

// clusterWithQueue starts three warren-node processes, declares queue
// through the first, waits until the queue-group leaders are spread (so
// that no leadership moves on its own during the test: a move ends the
// queue's consume streams), and returns a client of the first, the process
// that leads the queue's group and the other two.
func clusterWithQueue(t *testing.T, queue string) (admin *client.Client, leader *nodeProc, followers []*nodeProc) {
	t.Helper()
	procs := startProcCluster(t, 3)
	admin = newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, queue, nil)
	waitProcLeadersSpread(t, admin, procs)
	leader = procQueueLeader(t, procs, procs[0], queue)
	for _, p := range procs {
		if p != leader {
			followers = append(followers, p)
		}
	}
	return admin, leader, followers
}

// waitProcLeadersSpread waits until, as c's node sees it, every process
// leads a queue group and none leads two more than another: the leader
// spread is at rest (a node leading two more than another hands one over).
func waitProcLeadersSpread(t *testing.T, c *client.Client, procs []*nodeProc) {
	t.Helper()
	eventually(t, 30*time.Second, "queue-group leaders spread", func() error {
		st, err := c.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		counts := leaderCounts(st)
		lo, hi := -1, 0
		for _, p := range procs {
			n := counts[p.id]
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		if hi-lo > 1 || counts[""] > 0 {
			return fmt.Errorf("queue groups led %v", counts)
		}
		return nil
	})
}

// TestKillLeaderOfBusyQueue: three warren-node processes; a producer with
// confirms and a consumer with manual acks, each connected to a follower of
// the queue's group, run while the group's leader is killed with SIGKILL.
// A new leader serves within seconds, every confirmed message is consumed
// at least once, and nothing is consumed that was never published.
func TestKillLeaderOfBusyQueue(t *testing.T) {
	slow(t)
	_, leader, followers := clusterWithQueue(t, "busy")
	// Each client lists both followers, so it can fail over between them.
	addrs := []string{followers[0].grpcAddr, followers[1].grpcAddr}
	prod := newClientAddrs(t, addrs)
	cons := newClientAddrs(t, []string{addrs[1], addrs[0]})

	// The consumer's client has not seen the declaration's meta index.
	waitQueueKnown(t, cons, "busy")
	var mu sync.Mutex
	consumed := map[int]int{}
	var trail []string // every delivery, for the failure report
	consumeCtx, stopConsume := context.WithCancel(context.Background())
	defer stopConsume()
	consumeDone := make(chan error, 1)
	go func() {
		consumeDone <- cons.Consume(consumeCtx, "busy", func(_ context.Context, d *client.Delivery) error {
			id, err := parseID(d.Body)
			if err != nil {
				return err
			}
			mu.Lock()
			consumed[id]++
			trail = append(trail, fmt.Sprintf("%d/%s/%d/r%t", id, d.ConsumerTag, d.DeliveryTag, d.Redelivered))
			mu.Unlock()
			return nil
		}, client.ConsumeOptions{Prefetch: 20})
	}()

	const total = 300
	confirmed := map[int]bool{}
	var killedAt, firstAfterKill time.Time
	ctx := testCtx(t, 120*time.Second)
	for i := 0; i < total; i++ {
		if i == total/3 {
			leader.kill()
			killedAt = time.Now()
		}
		pctx, cancel := context.WithTimeout(ctx, scaled(20*time.Second))
		res, err := prod.Publish(pctx, "", "busy", client.Message{Body: []byte(strconv.Itoa(i))})
		cancel()
		if err != nil {
			t.Logf("publish %d: outcome unknown (%v)", i, err)
			continue
		}
		if res.Status != client.Confirmed {
			t.Fatalf("publish %d: %v", i, res)
		}
		confirmed[i] = true
		if !killedAt.IsZero() && firstAfterKill.IsZero() {
			firstAfterKill = time.Now()
		}
	}
	if firstAfterKill.IsZero() {
		t.Fatal("no publish was confirmed after the leader was killed")
	}
	t.Logf("first confirmed publish %v after kill -9 of the leader; %d of %d confirmed",
		firstAfterKill.Sub(killedAt).Round(time.Millisecond), len(confirmed), total)

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// Where the missing messages are: ready (not dispatched), unacked
		// (checked out to some consumer), or gone.
		cctx, cancel := context.WithTimeout(context.Background(), scaled(5*time.Second))
		defer cancel()
		got, err := getCounts(cctx, prod, "busy")
		mu.Lock()
		var missing []int
		for id := range confirmed {
			if consumed[id] == 0 {
				missing = append(missing, id)
			}
		}
		t.Logf("queue busy at the end: %v (err %v); missing %v", got, err, missing)
		t.Logf("deliveries (id/consumer/tag/redelivered): %v", trail)
		mu.Unlock()
	})
	eventually(t, 60*time.Second, "every confirmed message consumed", func() error {
		select {
		case err := <-consumeDone:
			t.Fatalf("Consume ended early: %v", err)
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		missing := 0
		for id := range confirmed {
			if consumed[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d confirmed messages not consumed yet", missing)
		}
		return nil
	})
	stopConsume()
	<-consumeDone
	mu.Lock()
	defer mu.Unlock()
	for id := range consumed {
		if id < 0 || id >= total {
			t.Errorf("consumed message %d that was never published", id)
		}
	}
}

// newClientAddrs connects the SDK with several addresses.
func newClientAddrs(t *testing.T, addrs []string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
	defer cancel()
	c, err := client.New(ctx, addrs)
	if err != nil {
		t.Fatalf("client.New(%v): %v", addrs, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestKillNodeAConsumerUses: a consumer connected through a follower holds
// unacked deliveries (the follower proxies its stream to the queue's
// leader); kill -9 of that follower ends the proxied stream on the leader,
// and the deliveries reach another consumer, redelivered.
func TestKillNodeAConsumerUses(t *testing.T) {
	admin, _, followers := clusterWithQueue(t, "held")
	doomed, survivor := followers[0], followers[1]
	// Without direct consume the stream goes through doomed, which proxies
	// it to the leader (TestDirectConsumeOutlivesConnectedNode is the
	// default case).
	holder := newClient(t, doomed.grpcAddr, client.WithoutDirectConsume())
	waitQueueKnown(t, holder, "held")
	publishIDs(t, admin, "held", "h", 3)
	sub := subscribe(t, holder, "held", client.ConsumeOptions{Prefetch: 3})
	for i := 0; i < 3; i++ {
		if d := recv(t, sub, 10*time.Second); d.Redelivered {
			t.Fatalf("first delivery %s marked redelivered", d.Body)
		}
	}
	waitCounts(t, admin, "held", 0, 3)

	doomed.kill()

	other := newClient(t, survivor.grpcAddr)
	waitQueueKnown(t, other, "held")
	taker := subscribe(t, other, "held", client.ConsumeOptions{Prefetch: 3})
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		d := recv(t, taker, 30*time.Second)
		if !d.Redelivered || d.DeliveryCount < 1 {
			t.Errorf("message %s after its consumer's node died: redelivered=%t count=%d", d.Body, d.Redelivered, d.DeliveryCount)
		}
		got[string(d.Body)] = true
		if err := d.Ack(testCtx(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %v, want the three held messages", got)
	}
}

// TestDirectConsumeOutlivesConnectedNode: by default a consume stream of a
// client connected to a follower subscribes at the queue's leader itself
// (the follower answers NOT_LEADER with the leader's gRPC address), so
// kill -9 of that follower leaves the stream alone: its unacked deliveries
// stay with it, are not redelivered, and its acks still work; new messages
// keep arriving on it.
func TestDirectConsumeOutlivesConnectedNode(t *testing.T) {
	admin, leader, followers := clusterWithQueue(t, "direct")
	doomed := followers[0]
	holder := newClientAddrs(t, []string{doomed.grpcAddr, followers[1].grpcAddr})
	waitQueueKnown(t, holder, "direct")
	publishIDs(t, admin, "direct", "d", 3)
	sub := subscribe(t, holder, "direct", client.ConsumeOptions{Prefetch: 10})
	var held []*client.Delivery
	for range 3 {
		d := recv(t, sub, 10*time.Second)
		if d.Redelivered {
			t.Fatalf("first delivery %s marked redelivered", d.Body)
		}
		held = append(held, d)
	}
	waitCounts(t, admin, "direct", 0, 3)

	doomed.kill()

	for _, d := range held {
		if err := d.Ack(testCtx(t, 10*time.Second)); err != nil {
			t.Fatalf("ack of %s after the connected node died: %v (the stream was not at the leader)", d.Body, err)
		}
	}
	other := newClient(t, leader.grpcAddr)
	waitCounts(t, other, "direct", 0, 0)
	publishIDs(t, other, "direct", "e", 2)
	for range 2 {
		d := recv(t, sub, 10*time.Second)
		if d.Redelivered {
			t.Errorf("new message %s marked redelivered", d.Body)
		}
		if err := d.Ack(testCtx(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}
