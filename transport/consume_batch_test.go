package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// jobsNode starts a node with a queue "jobs" and returns a client of it
// and a context bounding the test.
func jobsNode(t *testing.T) (pb.BrokerServiceClient, context.Context) {
	t.Helper()
	n := transporttest.Start(t, transporttest.Options{})
	c := n.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if _, err := c.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "jobs"}); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}

// publishBodies publishes one message per body to queue jobs, confirmed.
func publishBodies(ctx context.Context, t *testing.T, c pb.BrokerServiceClient, bodies [][]byte) {
	t.Helper()
	entries := make([]*pb.PublishEntry, len(bodies))
	for i, b := range bodies {
		entries[i] = &pb.PublishEntry{RoutingKey: "jobs", Message: &pb.Message{Body: b}}
	}
	res, err := c.Publish(ctx, &pb.PublishRequest{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.GetResults() {
		if r.GetStatus() != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
			t.Fatalf("publish %d: %v", i, r.GetStatus())
		}
	}
}

// subscribe opens a consume stream on jobs and returns it with its
// Subscribed.
func subscribe(ctx context.Context, t *testing.T, c pb.BrokerServiceClient, sub *pb.Subscribe) (grpc.BidiStreamingClient[pb.ConsumeRequest, pb.ConsumeResponse], *pb.Subscribed) {
	t.Helper()
	st, err := c.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub.Queue = "jobs"
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: sub}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetSubscribed() == nil {
		t.Fatalf("subscribed: %v %v", m, err)
	}
	return st, m.GetSubscribed()
}

// receive reads n deliveries and returns them with the sizes of the
// messages that carried them.
func receive(t *testing.T, st grpc.BidiStreamingClient[pb.ConsumeRequest, pb.ConsumeResponse], n int) (ds []*pb.Delivery, sizes []int) {
	t.Helper()
	for len(ds) < n {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d deliveries: %v", len(ds), err)
		}
		switch {
		case m.GetDelivery() != nil:
			ds, sizes = append(ds, m.GetDelivery()), append(sizes, 1)
		case m.GetDeliveries() != nil:
			batch := m.GetDeliveries().GetDeliveries()
			ds, sizes = append(ds, batch...), append(sizes, len(batch))
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	return ds, sizes
}

func waitQueueEmpty(ctx context.Context, t *testing.T, c pb.BrokerServiceClient) {
	t.Helper()
	for {
		res, err := c.ListQueues(ctx, &pb.ListQueuesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range res.GetQueues() {
			if q.GetName() == "jobs" && q.GetReady() == 0 && q.GetUnacked() == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("queue jobs not empty: %v", res.GetQueues())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A stream that asks for batches gets what is ready in Deliveries
// messages, in tag order and bounded in bytes, and its Settles settle
// every delivery they name.
func TestConsumeBatches(t *testing.T) {
	c, ctx := jobsNode(t)
	const small = 50
	var bodies [][]byte
	for i := range small {
		bodies = append(bodies, fmt.Appendf(nil, "job %d", i))
	}
	// Then five bodies of 60 KiB: two fit the 128 KiB of one batch.
	for i := range 5 {
		bodies = append(bodies, bytes.Repeat([]byte{byte('a' + i)}, 60<<10))
	}
	publishBodies(ctx, t, c, bodies)

	st, subscribed := subscribe(ctx, t, c, &pb.Subscribe{Prefetch: int32(len(bodies)), Batch: true})
	if !subscribed.GetBatch() {
		t.Fatal("Subscribed.batch is false on a stream that asked for batches")
	}
	ds, sizes := receive(t, st, len(bodies))
	if len(sizes) >= small {
		t.Errorf("%d deliveries ready at once came in %d messages (sizes %v), want them batched", len(ds), len(sizes), sizes)
	}
	var acks []*pb.Settle
	for i, d := range ds {
		if !bytes.Equal(d.GetMessage().GetBody(), bodies[i]) {
			t.Fatalf("delivery %d has body %.20q, want %.20q", i, d.GetMessage().GetBody(), bodies[i])
		}
		if i > 0 && d.GetDeliveryTag() <= ds[i-1].GetDeliveryTag() {
			t.Fatalf("delivery %d has tag %d after %d", i, d.GetDeliveryTag(), ds[i-1].GetDeliveryTag())
		}
		acks = append(acks, &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: d.GetDeliveryTag()})
	}
	at := 0
	for _, size := range sizes {
		var body int
		for _, d := range ds[at : at+size] {
			body += len(d.GetMessage().GetBody())
		}
		if size > 1 && body > 128<<10 {
			t.Errorf("a batch of %d deliveries carries %d bytes of bodies, more than 128 KiB", size, body)
		}
		at += size
	}
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settles{Settles: &pb.Settles{Settles: acks}}}); err != nil {
		t.Fatal(err)
	}
	waitQueueEmpty(ctx, t, c)

	// Too many settles in one message: refused, naming the limit, before
	// any of them is applied.
	too := make([]*pb.Settle, transport.MaxSettlesPerMessage+1)
	for i := range too {
		too[i] = &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: uint64(i + 1)}
	}
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settles{Settles: &pb.Settles{Settles: too}}}); err != nil {
		t.Fatal(err)
	}
	_, err := st.Recv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "limit is 1024") {
		t.Fatalf("%d settles in one message: %v, want RESOURCE_EXHAUSTED naming the limit", len(too), err)
	}
}

// A stream that does not ask for batches (a client of an earlier build)
// gets one Delivery a message.
func TestConsumeWithoutBatches(t *testing.T) {
	c, ctx := jobsNode(t)
	var bodies [][]byte
	for i := range 20 {
		bodies = append(bodies, fmt.Appendf(nil, "job %d", i))
	}
	publishBodies(ctx, t, c, bodies)
	st, subscribed := subscribe(ctx, t, c, &pb.Subscribe{Prefetch: 20})
	if subscribed.GetBatch() {
		t.Fatal("Subscribed.batch is set on a stream that did not ask for batches")
	}
	ds, sizes := receive(t, st, len(bodies))
	if len(sizes) != len(ds) {
		t.Fatalf("%d deliveries came in %d messages, want one each", len(ds), len(sizes))
	}
	for _, d := range ds {
		if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: d.GetDeliveryTag()}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitQueueEmpty(ctx, t, c)
}
