package e2e_test

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestPublishRetryIsEnqueuedOnce: a publish retried with the same publisher
// id and sequence (as the SDK does after an unknown outcome) is confirmed
// again but enqueued once; another sequence or another publisher is new.
func TestPublishRetryIsEnqueuedOnce(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	declareQueue(t, c, "once", nil)
	checkRetryEnqueuedOnce(t, n.Dial(t), c)
}

// TestProcessPublishRetryIsEnqueuedOnce is TestPublishRetryIsEnqueuedOnce on
// three warren-node processes, publishing through a follower of the
// queue's group (the enqueue is forwarded to its leader).
func TestProcessPublishRetryIsEnqueuedOnce(t *testing.T) {
	procs := startProcCluster(t, 3)
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "once", nil)
	leader := procQueueLeader(t, procs, procs[0], "once")
	via := procs[0]
	if via == leader {
		via = procs[1]
	}
	c := newClient(t, via.grpcAddr)
	waitQueueKnown(t, c, "once")
	cc, err := grpc.NewClient(via.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), guestLogin())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	checkRetryEnqueuedOnce(t, pb.NewBrokerServiceClient(cc), c)
}

// checkRetryEnqueuedOnce publishes to queue "once" with raw publisher ids
// and sequences, and checks the queue's count (through c) after each.
func checkRetryEnqueuedOnce(t *testing.T, raw pb.BrokerServiceClient, c *client.Client) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	send := func(publisher string, seq uint64) {
		t.Helper()
		resp, err := raw.Publish(ctx, &pb.PublishRequest{PublisherId: publisher, Entries: []*pb.PublishEntry{{
			RoutingKey: "once", Sequence: seq, Message: &pb.Message{Body: []byte("m")},
		}}})
		if err != nil {
			t.Fatalf("publish %s/%d: %v", publisher, seq, err)
		}
		if st := resp.GetResults()[0].GetStatus(); st != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
			t.Fatalf("publish %s/%d: %v", publisher, seq, st)
		}
	}
	send("p1", 1)
	send("p1", 1) // the retry
	waitCounts(t, c, "once", 1, 0)
	send("p1", 2)
	send("p2", 1)
	waitCounts(t, c, "once", 3, 0)
}

// TestDelayedPublishRetryIsStoredOnce: a publish to a delayed exchange
// sent again with the same publisher id and sequence (as the SDK does
// after an unknown outcome, or when a leader it published to directly does
// not answer) is stored, and so delivered, once.
func TestDelayedPublishRetryIsStoredOnce(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	declareDelayed(t, c, "dly.once", "dly.once.q")
	raw := n.Dial(t)
	ctx := testCtx(t, 20*time.Second)
	send := func(body string, seq uint64, delay time.Duration) {
		t.Helper()
		resp, err := raw.Publish(ctx, &pb.PublishRequest{PublisherId: "p1", Entries: []*pb.PublishEntry{{
			Exchange: "dly.once", RoutingKey: "k", Sequence: seq, Message: &pb.Message{Body: []byte(body), Headers: map[string]*pb.Value{
				"x-delay": {Kind: &pb.Value_IntValue{IntValue: delay.Milliseconds()}},
			}},
		}}})
		if err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
		if st := resp.GetResults()[0].GetStatus(); st != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
			t.Fatalf("publish %d: %v", seq, st)
		}
	}
	// The copies are due before the last message: by the time it arrives
	// any second copy would have too.
	send("a", 1, 100*time.Millisecond)
	send("a", 1, 100*time.Millisecond) // the retry
	send("b", 2, 600*time.Millisecond)
	waitBodies(t, c, "dly.once.q", []string{"a", "b"})
}
