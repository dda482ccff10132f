package e2e_test

import (
	"testing"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// TestPublishRetryIsEnqueuedOnce: a publish retried with the same publisher
// id and sequence (as the SDK does after an unknown outcome) is confirmed
// again but enqueued once; another sequence or another publisher is new.
func TestPublishRetryIsEnqueuedOnce(t *testing.T) {
	n := startNode(t)
	raw := n.Dial(t)
	c := newClient(t, n.Addr)
	declareQueue(t, c, "once", nil)
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
