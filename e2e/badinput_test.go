package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
)

// rawConsume opens a Consume stream, subscribes and returns the stream and
// the result of the first Recv.
func rawConsume(t *testing.T, ctx context.Context, api pb.BrokerServiceClient, sub *pb.Subscribe) (pb.BrokerService_ConsumeClient, *pb.ConsumeResponse, error) {
	t.Helper()
	st, err := api.Consume(ctx)
	if err != nil {
		t.Fatalf("open consume stream: %v", err)
	}
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: sub}}); err != nil {
		_, rerr := st.Recv()
		return st, nil, rerr
	}
	resp, err := st.Recv()
	return st, resp, err
}

func entry(exchange, key string, body []byte) *pb.PublishEntry {
	return &pb.PublishEntry{Exchange: exchange, RoutingKey: key, Message: &pb.Message{Body: body}}
}

// TestBadInput: every malformed or impossible request gets its gRPC status
// code, and the node keeps serving.
func TestBadInput(t *testing.T) {
	n := startNode(t)
	api := n.Dial(t)
	ctx := testCtx(t, 60*time.Second)
	const q = "good"
	if _, err := api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: q, Arguments: map[string]*pb.Value{
		"x-max-length": {Kind: &pb.Value_IntValue{IntValue: 10}},
	}}); err != nil {
		t.Fatal(err)
	}

	_, err := api.Publish(ctx, &pb.PublishRequest{Entries: []*pb.PublishEntry{entry("no-such-exchange", "k", []byte("x"))}})
	wantCode(t, "publish to an unknown exchange", err, codes.NotFound)

	_, _, err = rawConsume(t, ctx, api, &pb.Subscribe{Queue: "no-such-queue", SessionId: "s-bad"})
	wantCode(t, "consume from an unknown queue", err, codes.NotFound)

	_, err = api.DeclareExchange(ctx, &pb.DeclareExchangeRequest{Name: "ex", Kind: "bogus"})
	wantCode(t, `declare exchange of kind "bogus"`, err, codes.InvalidArgument)

	_, err = api.BindQueue(ctx, &pb.BindQueueRequest{Exchange: "amq.direct", Queue: "", BindingKey: "k"})
	wantCode(t, "bind with an empty queue name", err, codes.InvalidArgument)

	_, _, err = rawConsume(t, ctx, api, &pb.Subscribe{Queue: "", SessionId: "s-bad"})
	wantCode(t, "subscribe with an empty queue name", err, codes.InvalidArgument)

	long := strings.Repeat("q", 256)
	_, err = api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: long})
	wantCode(t, "declare a 256-byte queue name", err, codes.InvalidArgument)
	_, err = api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: strings.Repeat("q", 255)})
	wantCode(t, "declare a 255-byte queue name", err, codes.OK)

	_, err = api.Publish(ctx, &pb.PublishRequest{Entries: []*pb.PublishEntry{entry("", q, make([]byte, 4<<20+1))}})
	wantCode(t, "publish a body over 4 MiB", err, codes.ResourceExhausted)

	_, err = api.BindQueue(ctx, &pb.BindQueueRequest{Exchange: "amq.direct", Queue: "no-such-queue", BindingKey: "k"})
	wantCode(t, "bind a missing queue", err, codes.NotFound)

	// An ack of a tag never delivered ends the consume stream.
	st, resp, err := rawConsume(t, ctx, api, &pb.Subscribe{Queue: q, Prefetch: 1, SessionId: "s-tag"})
	if err != nil || resp.GetSubscribed() == nil {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: &pb.Settle{
		Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: 42,
	}}}); err != nil {
		t.Fatalf("send ack: %v", err)
	}
	for i := 0; i < 10; i++ {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	wantCode(t, "ack of an unknown delivery tag on a consume stream", err, codes.FailedPrecondition)

	_, err = api.Settle(ctx, &pb.SettleRequest{SessionId: "s-get", Queue: q, Settle: &pb.Settle{
		Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: 7,
	}})
	wantCode(t, "settle of an unknown get tag", err, codes.FailedPrecondition)

	_, _, err = rawConsume(t, ctx, api, &pb.Subscribe{Queue: q, Prefetch: -1, SessionId: "s-bad"})
	wantCode(t, "prefetch -1", err, codes.InvalidArgument)

	_, err = api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: q, Arguments: map[string]*pb.Value{
		"x-max-length": {Kind: &pb.Value_IntValue{IntValue: 11}},
	}})
	wantCode(t, "re-declare a queue with another x-max-length", err, codes.FailedPrecondition)
	_, err = api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: q})
	wantCode(t, "re-declare a queue without its x-max-length", err, codes.FailedPrecondition)

	_, err = api.DeclareExchange(ctx, &pb.DeclareExchangeRequest{Name: "amq.foo", Kind: "direct"})
	wantCode(t, `declare exchange "amq.foo"`, err, codes.InvalidArgument)

	_, err = api.DeleteExchange(ctx, &pb.DeleteExchangeRequest{Name: ""})
	wantCode(t, "delete the default exchange", err, codes.InvalidArgument)

	if t.Failed() {
		return
	}
	// The node still serves: publish and get.
	res, err := api.Publish(ctx, &pb.PublishRequest{Entries: []*pb.PublishEntry{entry("", q, []byte("still-ok"))}})
	if err != nil || res.GetResults()[0].GetStatus() != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
		t.Fatalf("publish after bad input: %v %v", res, err)
	}
	got, err := api.Get(ctx, &pb.GetRequest{Queue: q, AutoAck: true})
	if err != nil || string(got.GetDelivery().GetMessage().GetBody()) != "still-ok" {
		t.Fatalf("get after bad input: %v %v", got, err)
	}
	// The re-declare with the original properties is still a no-op.
	if _, err := api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: q, Arguments: map[string]*pb.Value{
		"x-max-length": {Kind: &pb.Value_IntValue{IntValue: 10}},
	}}); err != nil {
		t.Fatalf("re-declare with the same properties: %v", err)
	}
}
