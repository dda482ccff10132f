package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A network partition with real warren-node processes on separate hosts:
// three hosts of a netlab lab run one node each, on the host's address and
// fixed ports, and a fourth host is the clients' machine. The test process
// lives in the root namespace, which cannot reach the lab (netlab never
// touches it), so every gRPC connection of the test is dialled from inside
// the client host's namespace: the SDK and raw gRPC clients get a context
// dialer that calls Host.DialContext (setns on a locked thread for the
// duration of the dial; the socket stays in the namespace afterwards). That
// keeps the workload in the test process (no helper processes to
// coordinate), and gRPC's own goroutines never need to be in a namespace.
//
// The leader of the queue's group is cut off from the other two nodes with
// two Lab.Cut calls, not Isolate: the client host still reaches every node,
// as clients on the leader's side of a real partition would, so the test
// can see what a client of the minority gets.

// TestClusterPartition: three warren-node processes on three hosts; the
// leader of a busy queue's group is cut off from the other two. The
// majority elects a new leader and confirms publishes; the cut-off node
// refuses writes with Unavailable; once the network heals, the old leader
// catches up, and every confirmed message is consumed from the queue
// through it.
func TestClusterPartition(t *testing.T) {
	slow(t)
	lab := newLab(t, "part", 4)
	hosts := lab.Hosts()
	ch := hosts[3] // the clients' host
	nodes := startLabCluster(t, hosts[:3], ch)
	t.Logf("nodes on %s, %s, %s; clients on %s", hosts[0].IP, hosts[1].IP, hosts[2].IP, ch.IP)

	const q = "split"
	var all []string
	for _, n := range nodes {
		all = append(all, n.grpcAddr)
	}
	admin := labClient(t, ch, all...)
	declareQueue(t, admin, q, nil)
	for _, n := range nodes {
		waitQueueKnown(t, labClient(t, ch, n.grpcAddr), q)
	}
	group := queueGroupName(t, labRaw(t, ch, nodes[0].grpcAddr), q)
	// Leaders move until they are spread over the nodes; the leader to cut
	// off is picked once they rest, so it is still the leader at the cut.
	labLeadersAtRest(t, admin, nodes)
	leaderID := queueLeaderID(t, labRaw(t, ch, nodes[0].grpcAddr), q)
	var leader *labNode
	var majority []*labNode
	for _, n := range nodes {
		if n.id == leaderID {
			leader = n
		} else {
			majority = append(majority, n)
		}
	}
	if leader == nil {
		t.Fatalf("leader %q of %s is none of the nodes", leaderID, group)
	}
	t.Logf("queue %s is in group %s, led by %s (%s)", q, group, leader.id, leader.host.IP)

	// The producer knows every node but is connected to the leader (the
	// first address): the node about to be cut off.
	prod := labClient(t, ch, leader.grpcAddr, majority[0].grpcAddr, majority[1].grpcAddr)
	producer := startPartitionProducer(prod, q)
	defer producer.halt() // on failure; halting twice is harmless
	eventually(t, 20*time.Second, "50 publishes confirmed before the partition", func() error {
		if n, _ := producer.confirmedSince(time.Time{}); n < 50 {
			return fmt.Errorf("%d confirmed", n)
		}
		return nil
	})

	cutAt := time.Now()
	for _, m := range majority {
		if err := lab.Cut(leader.host, m.host); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("cut %s off from %s and %s", leader.id, majority[0].id, majority[1].id)

	// The majority elects a new leader among itself and confirms writes.
	majClient := labClient(t, ch, majority[0].grpcAddr)
	var newLeader string
	eventually(t, 30*time.Second, "a new leader of "+group+" on the majority side", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
		defer cancel()
		g, err := groupStatus(ctx, majClient, group)
		if err != nil {
			return err
		}
		if g.LeaderID == "" || g.LeaderID == leader.id {
			return fmt.Errorf("%s sees leader %q", majority[0].id, g.LeaderID)
		}
		newLeader = g.LeaderID
		return nil
	})
	electedAt := time.Now()
	electedIn := electedAt.Sub(cutAt)
	majConfirmed := map[int]bool{}
	majAttempts := 0
	eventually(t, 30*time.Second, "a publish through "+majority[0].id+" confirmed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), scaled(3*time.Second))
		defer cancel()
		id := majAttempts
		majAttempts++
		res, err := majClient.Publish(ctx, "", q, client.Message{Body: []byte("m-" + strconv.Itoa(id))})
		if err != nil {
			return err
		}
		if res.Status != client.Confirmed {
			return fmt.Errorf("status %v", res.Status)
		}
		majConfirmed[id] = true
		return nil
	})
	t.Logf("majority: %s elected after %v, first publish through %s confirmed after %v",
		newLeader, electedIn.Round(time.Millisecond), majority[0].id, time.Since(cutAt).Round(time.Millisecond))

	// The minority refuses writes. One node's own answer (raw gRPC, no
	// retries), then what an SDK user connected only to it gets.
	raw := labRaw(t, ch, leader.grpcAddr)
	minorityAttempts := 0
	rawStart := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), scaled(5*time.Second))
	_, rawErr := raw.Publish(rctx, &pb.PublishRequest{
		PublisherId: "partition-raw",
		Entries: []*pb.PublishEntry{{
			RoutingKey: q, Sequence: 1,
			Message: &pb.Message{Body: []byte("x-" + strconv.Itoa(minorityAttempts))},
		}},
	})
	rcancel()
	minorityAttempts++
	rawTook := time.Since(rawStart)
	t.Logf("minority %s, raw Publish: after %v: code %v: %v", leader.id, rawTook.Round(time.Millisecond), status.Code(rawErr), rawErr)
	if rawErr == nil {
		t.Fatalf("the cut-off node %s accepted a publish", leader.id)
	}
	// What clients rely on: Unavailable with the NOT_LEADER reason (so
	// the SDK tries elsewhere), and at once, not after a stalled forward.
	if got, reason := status.Code(rawErr), errorReason(rawErr); got != codes.Unavailable || reason != "NOT_LEADER" {
		t.Errorf("cut-off node %s answers a publish with %v, reason %q (%v); want Unavailable, NOT_LEADER",
			leader.id, got, reason, rawErr)
	}
	if rawTook > scaled(2*time.Second) {
		t.Errorf("cut-off node %s took %v to refuse a publish; want an answer at once", leader.id, rawTook.Round(time.Millisecond))
	}

	minClient := labClient(t, ch, leader.grpcAddr)
	sdkStart := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), scaled(3*time.Second))
	res, sdkErr := minClient.Publish(sctx, "", q, client.Message{Body: []byte("x-" + strconv.Itoa(minorityAttempts))})
	scancel()
	minorityAttempts++
	// The SDK retries NOT_LEADER on its only address until the deadline;
	// its error wraps the deadline and the node's last answer, so the
	// code stays Unavailable and the text says "no leader known".
	t.Logf("minority %s, SDK Publish (%v deadline): after %v: status %v, code %v: %v",
		leader.id, scaled(3*time.Second), time.Since(sdkStart).Round(time.Millisecond), res.Status, status.Code(sdkErr), sdkErr)
	if sdkErr == nil || res.Status == client.Confirmed {
		t.Fatalf("the cut-off node %s confirmed a publish (%v, %v)", leader.id, res.Status, sdkErr)
	}
	if status.Code(sdkErr) != codes.Unavailable {
		t.Errorf("an SDK publish through the cut-off node %s failed with code %v (%v); want Unavailable", leader.id, status.Code(sdkErr), sdkErr)
	}

	// The producer, connected to the cut-off node, moves to the majority
	// by itself and is confirmed again. Only the majority can confirm
	// once it has elected a new leader.
	eventually(t, 45*time.Second, "the producer confirmed again after the new election", func() error {
		if n, _ := producer.confirmedSince(electedAt); n == 0 {
			return errors.New("no confirm since the new leader was seen")
		}
		return nil
	})
	_, first := producer.confirmedSince(electedAt)
	t.Logf("producer (connected to %s): first confirm through the majority %v after the cut", leader.id, first.Sub(cutAt).Round(time.Millisecond))

	// Heal; the old leader catches up with the group's log.
	if err := lab.Heal(); err != nil {
		t.Fatal(err)
	}
	healAt := time.Now()
	oldClient := labClient(t, ch, leader.grpcAddr)
	eventually(t, 30*time.Second, leader.id+" caught up after the heal", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
		defer cancel()
		cur, err := groupStatus(ctx, majClient, group)
		if err != nil {
			return err
		}
		old, err := groupStatus(ctx, oldClient, group)
		if err != nil {
			return err
		}
		if old.LeaderID == "" || old.LeaderID != cur.LeaderID {
			return fmt.Errorf("%s sees leader %q, %s sees %q", leader.id, old.LeaderID, majority[0].id, cur.LeaderID)
		}
		if old.AppliedIndex < cur.CommitIndex {
			return fmt.Errorf("%s applied %d of %d", leader.id, old.AppliedIndex, cur.CommitIndex)
		}
		return nil
	})
	t.Logf("%s caught up %v after the heal", leader.id, time.Since(healAt).Round(time.Millisecond))
	producer.halt()

	// Drain through the old leader: every confirmed message is there.
	producer.mu.Lock()
	published := producer.attempted
	confirmed := map[string]bool{}
	for i := range producer.confirmed {
		confirmed["p-"+strconv.Itoa(i)] = true
	}
	failures := producer.failures
	producer.mu.Unlock()
	for i := range majConfirmed {
		confirmed["m-"+strconv.Itoa(i)] = true
	}
	t.Logf("producer: %d published, %d confirmed; first failures: %q", published, len(confirmed)-len(majConfirmed), failures)

	var mu sync.Mutex
	consumed := map[string]int{}
	cctx, stopConsume := context.WithCancel(context.Background())
	defer stopConsume()
	consumeDone := make(chan error, 1)
	go func() {
		consumeDone <- oldClient.Consume(cctx, q, func(_ context.Context, d *client.Delivery) error {
			mu.Lock()
			consumed[string(d.Body)]++
			mu.Unlock()
			return nil
		}, client.ConsumeOptions{Prefetch: 100})
	}()
	eventually(t, 60*time.Second, "every confirmed message consumed through "+leader.id, func() error {
		select {
		case err := <-consumeDone:
			t.Fatalf("Consume through %s ended: %v", leader.id, err)
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		var missing []string
		for id := range confirmed {
			if consumed[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return fmt.Errorf("%d confirmed messages not consumed, e.g. %v", len(missing), missing[:min(len(missing), 10)])
		}
		return nil
	})
	stopConsume()
	if err := <-consumeDone; err != nil {
		t.Errorf("Consume: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	dups, unconfirmed := 0, 0
	for body, n := range consumed {
		dups += n - 1
		if !confirmed[body] {
			unconfirmed++
		}
		if !wasPublished(body, published, majAttempts, minorityAttempts) {
			t.Errorf("consumed %q, which was never published", body)
		}
	}
	t.Logf("consumed %d distinct messages (%d confirmed, %d published without a confirm), %d duplicate deliveries",
		len(consumed), len(confirmed), unconfirmed, dups)
}

// errorReason returns the ErrorInfo reason of a gRPC error, or "".
func errorReason(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// wasPublished reports whether body is one the test tried to publish.
func wasPublished(body string, producer, majority, minority int) bool {
	prefix, num, ok := strings.Cut(body, "-")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 {
		return false
	}
	switch prefix {
	case "p":
		return i < producer
	case "m":
		return i < majority
	case "x":
		return i < minority
	}
	return false
}
