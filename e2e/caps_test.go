package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenmq/warren/transport"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestConsumersPerSessionCap: a session may hold MaxConsumersPerSession
// consume streams on a node; the next one is refused with
// RESOURCE_EXHAUSTED naming the limit, and one closed makes room again.
func TestConsumersPerSessionCap(t *testing.T) {
	limits := transport.DefaultLimits()
	limits.MaxConsumersPerSession = 3
	n := transporttest.Start(t, transporttest.Options{Limits: &limits})
	raw := n.Dial(t)
	ctx := testCtx(t, 20*time.Second)
	if _, err := raw.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "capped"}); err != nil {
		t.Fatal(err)
	}
	subscribeStream := func(ctx context.Context) (grpc.BidiStreamingClient[pb.ConsumeRequest, pb.ConsumeResponse], error) {
		st, err := raw.Consume(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{
			Queue: "capped", SessionId: "one-session", Prefetch: 1,
		}}}); err != nil {
			return nil, err
		}
		_, err = st.Recv()
		return st, err
	}
	cancels := make([]context.CancelFunc, 3)
	for i := range cancels {
		sctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		if _, err := subscribeStream(sctx); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	_, err := subscribeStream(ctx)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a fourth stream of the session: %v, want RESOURCE_EXHAUSTED", err)
	}
	cancels[0]()
	eventually(t, 10*time.Second, "room for a stream after one closed", func() error {
		sctx, cancel := context.WithCancel(ctx)
		_, err := subscribeStream(sctx)
		if err != nil {
			cancel()
			return err
		}
		t.Cleanup(cancel)
		return nil
	})
	for _, c := range cancels[1:] {
		c()
	}
}

// TestConnectionCap: connections past MaxConnections are closed as they
// arrive; the ones open keep working, and a closed one makes room.
func TestConnectionCap(t *testing.T) {
	limits := transport.DefaultLimits()
	limits.MaxConnections = 2
	n := transporttest.Start(t, transporttest.Options{Limits: &limits})
	dial := func() *grpc.ClientConn {
		cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	call := func(cc *grpc.ClientConn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := pb.NewBrokerServiceClient(cc).ListQueues(ctx, &pb.ListQueuesRequest{})
		return err
	}
	a, b, c := dial(), dial(), dial()
	defer a.Close()
	defer c.Close()
	for i, cc := range []*grpc.ClientConn{a, b} {
		if err := call(cc); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	if err := call(c); status.Code(err) != codes.Unavailable {
		t.Fatalf("a third connection: %v, want UNAVAILABLE (closed by the server)", err)
	}
	_ = b.Close()
	eventually(t, 10*time.Second, "the third connection served once one closed", func() error { return call(c) })
	if err := call(a); err != nil {
		t.Fatalf("the first connection after all that: %v", err)
	}
}
