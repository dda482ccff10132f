package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// waitLeadersSpread waits until no node leads more than ceil(K/N) queue
// groups, after which the cluster stops moving leaders on its own.
func waitLeadersSpread(t *testing.T, nodes []*transporttest.Node) {
	t.Helper()
	raw := nodes[0].Dial(t)
	eventually(t, 30*time.Second, "queue-group leaders spread over the nodes", func() error {
		st, err := raw.ClusterStatus(testCtx(t, 5*time.Second), &pb.ClusterStatusRequest{})
		if err != nil {
			return err
		}
		per := map[string]int{}
		k := 0
		for _, g := range st.GetGroups() {
			if g.GetName() == "meta" {
				continue
			}
			if g.GetLeaderId() == "" {
				return fmt.Errorf("group %s has no leader", g.GetName())
			}
			per[g.GetLeaderId()]++
			k++
		}
		limit := (k + len(nodes) - 1) / len(nodes)
		for id, n := range per {
			if n > limit {
				return fmt.Errorf("%s leads %d of %d queue groups (limit %d)", id, n, k, limit)
			}
		}
		return nil
	})
}

// queueLeaderID returns the id of the node that leads queue's group, as
// the node behind raw sees it.
func queueLeaderID(t *testing.T, raw pb.BrokerServiceClient, queue string) string {
	t.Helper()
	var leader string
	eventually(t, 20*time.Second, "the queue's group has a leader", func() error {
		ctx := testCtx(t, 5*time.Second)
		qs, err := raw.ListQueues(ctx, &pb.ListQueuesRequest{})
		if err != nil {
			return err
		}
		group := ""
		for _, q := range qs.GetQueues() {
			if q.GetName() == queue {
				group = "q" + strconv.Itoa(int(q.GetGroup()))
			}
		}
		if group == "" {
			return fmt.Errorf("queue %s not listed", queue)
		}
		st, err := raw.ClusterStatus(ctx, &pb.ClusterStatusRequest{})
		if err != nil {
			return err
		}
		for _, g := range st.GetGroups() {
			if g.GetName() == group && g.GetLeaderId() != "" {
				leader = g.GetLeaderId()
				return nil
			}
		}
		return fmt.Errorf("group %s has no known leader", group)
	})
	return leader
}

// queueLeader returns the index in nodes of the node that leads queue's
// group, as node 0 sees it.
func queueLeader(t *testing.T, nodes []*transporttest.Node, queue string) int {
	t.Helper()
	id := queueLeaderID(t, nodes[0].Dial(t), queue)
	for i, n := range nodes {
		if n.Broker.Node().NodeID() == id {
			return i
		}
	}
	t.Fatalf("leader %q of queue %s is none of the nodes", id, queue)
	return -1
}

// TestPublishAndConsumeThroughFollowers: in a 3-node cluster a client
// talking to a follower of the queue's group publishes (forwarded to the
// leader) and another client on the other follower consumes (proxied to the
// leader): every message arrives exactly once.
func TestPublishAndConsumeThroughFollowers(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	waitLeadersSpread(t, nodes)
	admin := newClient(t, nodes[0].Addr)
	declareQueue(t, admin, "fw", nil)
	leader := queueLeader(t, nodes, "fw")
	var followers []*transporttest.Node
	for i, n := range nodes {
		if i != leader {
			followers = append(followers, n)
		}
	}
	publishConsumeGetThroughFollowers(t, admin, []string{followers[0].Addr, followers[1].Addr})
}

// TestProcessPublishAndConsumeThroughFollowers is
// TestPublishAndConsumeThroughFollowers on three warren-node processes.
func TestProcessPublishAndConsumeThroughFollowers(t *testing.T) {
	procs := startProcCluster(t, 3)
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "fw", nil)
	leader := procQueueLeader(t, procs, procs[0], "fw")
	var followers []string
	for _, p := range procs {
		if p != leader {
			followers = append(followers, p.grpcAddr)
		}
	}
	publishConsumeGetThroughFollowers(t, admin, followers)
}

// publishConsumeGetThroughFollowers publishes 200 messages to queue "fw"
// through one follower of its group and consumes them through the other,
// then takes a get through a follower and lets its session end.
func publishConsumeGetThroughFollowers(t *testing.T, admin *client.Client, followers []string) {
	t.Helper()
	// Without direct publish: every publish goes through the follower,
	// which forwards it (TestPublishGoesToTheLeader covers direct ones).
	prod := newClient(t, followers[0], client.WithoutDirectPublish())
	cons := newClient(t, followers[1])
	// A client of another node has not seen the declaration's meta index:
	// a publish before that node applied it would be unroutable.
	waitQueueKnown(t, prod, "fw")
	const total = 200
	ctx := testCtx(t, 60*time.Second)
	futures := make([]*client.PublishFuture, total)
	for i := range futures {
		futures[i] = prod.PublishAsync(ctx, "", "fw", client.Message{Body: []byte(strconv.Itoa(i))})
	}
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil || res.Status != client.Confirmed {
			t.Fatalf("publish %d through a follower: %v %v", i, res, err)
		}
	}
	// Another client on another node has not seen the declaration's meta
	// index: wait until that node's copy of the meta state has the queue.
	waitQueueKnown(t, cons, "fw")
	// Consume re-subscribes if a leadership change ends the stream, so a
	// message may come twice — but only as a redelivery.
	var mu sync.Mutex
	seen := map[int]int{}
	consumeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cons.Consume(consumeCtx, "fw", func(_ context.Context, d *client.Delivery) error {
			id, err := parseID(d.Body)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[id] > 0 && !d.Redelivered {
				t.Errorf("message %d delivered twice, the second time not as a redelivery", id)
			}
			seen[id]++
			if len(seen) == total {
				stop()
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 10})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("consume through a follower: %v", err)
		}
	case <-time.After(scaled(30 * time.Second)):
		stop()
		mu.Lock()
		t.Fatalf("consumed %d of %d distinct messages through a follower", len(seen), total)
	}
	waitCounts(t, admin, "fw", 0, 0)
	waitConsumers(t, admin, "fw", 0)

	// A get through a follower, acked through it, and a redelivery after
	// the follower's client closes without acking.
	publishIDs(t, prod, "fw", "g", 1)
	getter := newClient(t, followers[1])
	if _, ok, err := getter.Get(ctx, "fw", client.GetOptions{}); err != nil || !ok {
		t.Fatalf("get through a follower: ok=%t %v", ok, err)
	}
	waitCounts(t, admin, "fw", 0, 1)
	if err := getter.Close(); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, admin, "fw", 1, 0)
	d, ok, err := admin.Get(context.Background(), "fw", client.GetOptions{})
	if err != nil || !ok || !d.Redelivered {
		t.Fatalf("after the follower's session ended: ok=%t redelivered=%v err=%v", ok, d != nil && d.Redelivered, err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReadYourWritesThroughAFollower: a client of one node declares a
// queue and publishes, and a fresh client of the same node gets (even
// rounds) or subscribes (odd rounds) at once, while the queue's leader may be a node
// whose copy of the meta state lags (real processes, default Raft timings:
// followers learn commits up to 50 ms late). The proxying node passes on the
// meta index it has applied, so the leader waits for the declaration first;
// a consumer sent to the leader (direct consume) carries that index too.
func TestReadYourWritesThroughAFollower(t *testing.T) {
	procs := startProcCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	for round := 0; round < 18; round++ {
		p := procs[round%len(procs)]
		c := newClient(t, p.grpcAddr)
		q := fmt.Sprintf("ryw-%d", round)
		declareQueue(t, c, q, nil)
		publish(t, c, "", q, client.Message{Body: []byte("x")}, client.Confirmed)
		_ = c.Close()
		// A fresh client (as a new CLI process is) has seen no meta index.
		fresh := newClient(t, p.grpcAddr)
		if round%2 == 0 {
			d, ok, err := fresh.Get(ctx, q, client.GetOptions{AutoAck: true})
			if err != nil || !ok || string(d.Body) != "x" {
				t.Fatalf("round %d via %s: declare, publish, get gave ok=%t err=%v", round, p.grpcAddr, ok, err)
			}
		} else {
			sub, err := fresh.Subscribe(ctx, q, client.ConsumeOptions{AutoAck: true})
			if err != nil {
				t.Fatalf("round %d via %s: declare, publish, subscribe: %v", round, p.grpcAddr, err)
			}
			if d := recv(t, sub, 10*time.Second); string(d.Body) != "x" {
				t.Fatalf("round %d: consumed %q, want x", round, d.Body)
			}
		}
		_ = fresh.Close()
	}
}

// TestDeclaredElsewhereIsRoutable: a queue, an exchange and a binding
// declared through one node are routable at once by a fresh client of
// another node, whose copy of the meta state may lag (followers learn of
// commits up to a heartbeat late): a publish that finds no queue, or no
// exchange, makes the node catch up with the meta leader first, so the
// message is neither dropped as unroutable nor refused with NotFound.
func TestDeclaredElsewhereIsRoutable(t *testing.T) {
	procs := startProcCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	for round := 0; round < 18; round++ {
		declarer := newClient(t, procs[round%3].grpcAddr)
		q, ex := fmt.Sprintf("elsewhere-%d", round), fmt.Sprintf("elsewhere-ex-%d", round)
		declareQueue(t, declarer, q, nil)
		if err := declarer.DeclareExchange(ctx, ex, "direct", client.ExchangeOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := declarer.Bind(ctx, ex, q, "k", nil); err != nil {
			t.Fatal(err)
		}
		_ = declarer.Close()
		publisher := newClient(t, procs[(round+1)%3].grpcAddr)
		publish(t, publisher, "", q, client.Message{Body: []byte("default")}, client.Confirmed, client.Mandatory())
		publish(t, publisher, ex, "k", client.Message{Body: []byte("direct")}, client.Confirmed, client.Mandatory())
		_ = publisher.Close()
	}
}
