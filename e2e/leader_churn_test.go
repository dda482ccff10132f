package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestConsumersDrainWhileLeadershipMoves (issue 14's chaos hang): the
// leadership of a queue's group moves every few hundred milliseconds while
// short-lived consumers, each a fresh client connected to some node,
// subscribe, take a few messages, ack them and leave, as a chaos run's
// drain did when the queue got stuck: every stream must end up at the
// serving leader and every ack must count. Once the moves stop, one more
// consumer must empty the queue: nothing may stay checked out to a
// consumer that lives on, or to one that is gone.
func TestConsumersDrainWhileLeadershipMoves(t *testing.T) {
	slow(t)
	const n = 600
	ctx := testCtx(t, 3*time.Minute)
	nodes, admin, group := churnCluster(t, ctx, "churn", n)

	var (
		mu   sync.Mutex
		seen = map[int]bool{}
	)
	handler := func(ctx context.Context, d *client.Delivery) error {
		id, err := parseID(d.Body)
		if err != nil {
			return err
		}
		if err := d.Ack(context.WithoutCancel(ctx)); err == nil {
			mu.Lock()
			seen[id] = true
			mu.Unlock()
		}
		return nil
	}

	// Moves: the group's leader hands over to another node, again and
	// again, for the first part of the run.
	moving, stopMoving := context.WithTimeout(ctx, 5*time.Second) // a workload, not a deadline: unscaled
	defer stopMoving()
	var moves sync.WaitGroup
	moves.Add(1)
	go func() {
		defer moves.Done()
		moveLeaderEvery(moving, nodes, group, 300*time.Millisecond)
	}()
	// Consumers: each a fresh client on a node in turn, for 100–400 ms.
	rng := rand.New(rand.NewPCG(14, 11))
	for i := 0; moving.Err() == nil; i++ {
		c := newClient(t, nodes[i%3].Addr)
		cctx, cancel := context.WithTimeout(ctx, time.Duration(100+rng.IntN(300))*time.Millisecond)
		_ = c.Consume(cctx, "churn", handler, client.ConsumeOptions{Prefetch: 10})
		cancel()
		_ = c.Close()
	}
	moves.Wait()

	// The moves are over: one consumer must empty the queue.
	last := newClient(t, nodes[0].Addr)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	go func() { _ = last.Consume(lctx, "churn", handler, client.ConsumeOptions{Prefetch: 100}) }()
	eventually(t, 60*time.Second, "the queue drained after the moves", func() error {
		c, err := getCounts(ctx, admin, "churn")
		if err != nil {
			return err
		}
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		if c.Ready != 0 || c.Unacked != 0 || got != n {
			return fmt.Errorf("%d ready, %d unacked; %d of %d messages acked", c.Ready, c.Unacked, got, n)
		}
		return nil
	})
}

// TestAutoAckConsumerKeepsItsCreditAcrossMoves: an auto-ack consumer with
// prefetch 1 stays subscribed while its queue group's leadership moves
// again and again. A delivery counts as acknowledged once written to the
// stream, and its Ack is committed a moment later; a move in between
// leaves the tag checked out in the state. When the consumer re-attaches
// at the new leader, that tag must not hold its only credit: the queue
// must still drain.
func TestAutoAckConsumerKeepsItsCreditAcrossMoves(t *testing.T) {
	slow(t)
	ctx := testCtx(t, 3*time.Minute)
	nodes, admin, group := churnCluster(t, ctx, "autoack", 3000)
	var got sync.Map
	var count atomic.Int64
	c := newClient(t, nodes[1].Addr)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = c.Consume(cctx, "autoack", func(_ context.Context, d *client.Delivery) error {
			if _, dup := got.LoadOrStore(string(d.Body), true); !dup {
				count.Add(1)
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 1, AutoAck: true})
	}()
	moving, stopMoving := context.WithTimeout(ctx, 4*time.Second) // a workload, not a deadline: unscaled
	defer stopMoving()
	moves := moveLeaderEvery(moving, nodes, group, 400*time.Millisecond)
	t.Logf("%d moves; %d delivered meanwhile", moves, count.Load())
	// Auto-ack is at most once: a delivery lost in a move is gone. The
	// queue must still empty, at the consumer's own pace.
	eventually(t, 60*time.Second, "the auto-ack consumer emptied the queue", func() error {
		cnt, err := getCounts(ctx, admin, "autoack")
		if err != nil {
			return err
		}
		if cnt.Ready != 0 || cnt.Unacked != 0 {
			return fmt.Errorf("%d ready, %d unacked; %d delivered", cnt.Ready, cnt.Unacked, count.Load())
		}
		return nil
	})
}

// churnCluster starts three in-process nodes with one queue group,
// declares queue and publishes n confirmed messages "m-<i>" to it; it
// returns the nodes, the publishing client and the queue's group.
func churnCluster(t *testing.T, ctx context.Context, queue string, n int) ([]*transporttest.Node, *client.Client, string) {
	t.Helper()
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{QueueGroups: 1, SessionGrace: 500 * time.Millisecond})
	admin := newClient(t, nodes[0].Addr)
	declareQueue(t, admin, queue, nil)
	group := queueGroupName(t, nodes[0].Dial(t), queue)
	msgs := make([]client.Publishing, 0, 100)
	for i := 0; i < n; i += len(msgs) {
		msgs = msgs[:0]
		for j := i; j < min(i+cap(msgs), n); j++ {
			msgs = append(msgs, client.Publishing{RoutingKey: queue, Message: client.Message{Body: fmt.Appendf(nil, "m-%d", j)}})
		}
		res, err := admin.PublishBatch(ctx, msgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != client.Confirmed {
				t.Fatalf("publish: %v", r.Status)
			}
		}
	}
	return nodes, admin, group
}

// moveLeaderEvery moves group's leadership to another node every interval
// until ctx ends, and returns how many moves were made.
func moveLeaderEvery(ctx context.Context, nodes []*transporttest.Node, group string, interval time.Duration) int {
	moves := 0
	for ctx.Err() == nil {
		if moveLeader(nodes, group) {
			moves++
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
	return moves
}

// moveLeader asks the leader of group among nodes to hand its leadership
// to the next node, and reports whether one did.
func moveLeader(nodes []*transporttest.Node, group string) bool {
	for i, nd := range nodes {
		next := nodes[(i+1)%len(nodes)].Broker.Node().NodeID()
		if nd.Broker.Node().TransferLeadership(group, next) == nil {
			return true
		}
	}
	return false
}
