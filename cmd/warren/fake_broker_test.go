package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// memBroker is a tiny in-memory BrokerService for CLI tests: only the default
// exchange routes (to the queue named by the routing key), routing key
// "reject" is rejected, and deliveries of a closed stream are not requeued.
type memBroker struct {
	warrenpb.UnimplementedBrokerServiceServer

	mu       sync.Mutex
	queues   map[string]chan *warrenpb.Delivery
	bindings []*warrenpb.Binding
	gen      int
	tag      atomic.Uint64
	acks     chan struct{} // a value per settle received (stream and RPC)
}

func newMemBroker() *memBroker {
	return &memBroker{queues: make(map[string]chan *warrenpb.Delivery), acks: make(chan struct{}, 1<<16)}
}

func (b *memBroker) queue(name string) (chan *warrenpb.Delivery, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "queue %q not found", name)
	}
	return q, nil
}

func (b *memBroker) DeclareQueue(_ context.Context, r *warrenpb.DeclareQueueRequest) (*warrenpb.DeclareQueueResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name := r.GetName()
	if name == "" {
		b.gen++
		name = fmt.Sprintf("amq.gen-%d", b.gen)
	}
	q, ok := b.queues[name]
	if !ok {
		if r.GetPassive() {
			return nil, status.Errorf(codes.NotFound, "queue %q not found", name)
		}
		q = make(chan *warrenpb.Delivery, 1<<16)
		b.queues[name] = q
	}
	return &warrenpb.DeclareQueueResponse{Name: name, MessageCount: uint64(len(q)), MetaIndex: 1}, nil
}

func (b *memBroker) DeleteQueue(_ context.Context, r *warrenpb.DeleteQueueRequest) (*warrenpb.DeleteQueueResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[r.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "queue %q not found", r.GetName())
	}
	delete(b.queues, r.GetName())
	return &warrenpb.DeleteQueueResponse{MessageCount: uint64(len(q))}, nil
}

func (b *memBroker) ListQueues(context.Context, *warrenpb.ListQueuesRequest) (*warrenpb.ListQueuesResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &warrenpb.ListQueuesResponse{}
	for name, q := range b.queues {
		resp.Queues = append(resp.Queues, &warrenpb.QueueInfo{Name: name, Ready: uint64(len(q))})
	}
	return resp, nil
}

func (b *memBroker) BindQueue(_ context.Context, r *warrenpb.BindQueueRequest) (*warrenpb.BindQueueResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bindings = append(b.bindings, &warrenpb.Binding{
		Exchange: r.GetExchange(), Queue: r.GetQueue(), BindingKey: r.GetBindingKey(), Arguments: r.GetArguments(),
	})
	return &warrenpb.BindQueueResponse{}, nil
}

func (b *memBroker) ListBindings(context.Context, *warrenpb.ListBindingsRequest) (*warrenpb.ListBindingsResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &warrenpb.ListBindingsResponse{Bindings: b.bindings}, nil
}

func (b *memBroker) Publish(_ context.Context, r *warrenpb.PublishRequest) (*warrenpb.PublishResponse, error) {
	resp := &warrenpb.PublishResponse{}
	for _, e := range r.GetEntries() {
		res := &warrenpb.PublishResult{Status: warrenpb.PublishStatus_PUBLISH_STATUS_CONFIRMED}
		q, err := b.queue(e.GetRoutingKey())
		switch {
		case e.GetRoutingKey() == "reject":
			res = &warrenpb.PublishResult{Status: warrenpb.PublishStatus_PUBLISH_STATUS_REJECTED, Reason: "queue full"}
		case e.GetExchange() != "" || err != nil:
			if e.GetMandatory() {
				res.Status = warrenpb.PublishStatus_PUBLISH_STATUS_UNROUTABLE
			}
		default:
			q <- &warrenpb.Delivery{
				DeliveryTag: b.tag.Add(1), RoutingKey: e.GetRoutingKey(), Queue: e.GetRoutingKey(), Message: e.GetMessage(),
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (b *memBroker) Get(_ context.Context, r *warrenpb.GetRequest) (*warrenpb.GetResponse, error) {
	q, err := b.queue(r.GetQueue())
	if err != nil {
		return nil, err
	}
	select {
	case d := <-q:
		return &warrenpb.GetResponse{Delivery: d, MessageCount: uint64(len(q))}, nil
	default:
		return &warrenpb.GetResponse{}, nil
	}
}

func (b *memBroker) Settle(context.Context, *warrenpb.SettleRequest) (*warrenpb.SettleResponse, error) {
	b.acks <- struct{}{}
	return &warrenpb.SettleResponse{}, nil
}

func (b *memBroker) Session(stream grpc.BidiStreamingServer[warrenpb.SessionRequest, warrenpb.SessionResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := stream.Send(&warrenpb.SessionResponse{SessionId: first.GetSessionId()}); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}

func (b *memBroker) Consume(stream grpc.BidiStreamingServer[warrenpb.ConsumeRequest, warrenpb.ConsumeResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	sub := first.GetSubscribe()
	q, err := b.queue(sub.GetQueue())
	if err != nil {
		return err
	}
	if err := stream.Send(&warrenpb.ConsumeResponse{Response: &warrenpb.ConsumeResponse_Subscribed{
		Subscribed: &warrenpb.Subscribed{ConsumerTag: "ctag-1", Queue: sub.GetQueue()},
	}}); err != nil {
		return err
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
			b.acks <- struct{}{}
		}
	}()
	for {
		select {
		case d := <-q:
			if err := stream.Send(&warrenpb.ConsumeResponse{Response: &warrenpb.ConsumeResponse_Delivery{Delivery: d}}); err != nil {
				return err
			}
		case <-ended:
			return nil
		case <-stream.Context().Done():
			return nil
		}
	}
}

// startMem serves b on a loopback listener until the test ends.
func startMem(t *testing.T, b *memBroker) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	warrenpb.RegisterBrokerServiceServer(srv, b)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	return lis.Addr().String()
}
