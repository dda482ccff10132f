package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

func TestSmokePublishConsume(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{})
	c := n.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "jobs"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Publish(ctx, &pb.PublishRequest{Entries: []*pb.PublishEntry{{RoutingKey: "jobs", Message: &pb.Message{Body: []byte("hello")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Results[0].Status != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
		t.Fatalf("status %v", res.Results[0].Status)
	}
	st, err := c.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{Queue: "jobs", Prefetch: 1}}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetSubscribed() == nil {
		t.Fatalf("subscribed: %v %v", m, err)
	}
	m, err = st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if string(m.GetDelivery().GetMessage().GetBody()) != "hello" {
		t.Fatalf("got %v", m)
	}
}
