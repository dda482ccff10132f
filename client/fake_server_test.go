package client

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// fakeBroker is a small in-process BrokerService. Its behaviour is fixed by
// names: routing key "unroutable" (with mandatory) is unroutable, "reject" is
// rejected; queue "missing" is not found; queue "empty" has no message; a
// subscription to "silent" is never answered, one to "failing" fails with
// Unavailable right after Subscribed; "hushed" promises heartbeats and
// sends none, "beating" sends them.
type fakeBroker struct {
	warrenpb.UnimplementedBrokerServiceServer

	mu          sync.Mutex
	publishes   []*warrenpb.PublishRequest
	minMeta     map[string]uint64 // last min_meta_index per method
	metaIndex   uint64            // returned by declarations
	settleReqs  []*warrenpb.SettleRequest
	getReqs     []*warrenpb.GetRequest
	queueReqs   []*warrenpb.DeclareQueueRequest
	sessionIDs  []string // first message of each Session stream
	listCalls   int      // ListQueues calls
	nextTag     uint64
	publishSeen chan int      // if set, gets len(entries) of each publish
	publishGate chan struct{} // if set, each publish waits for a token
	sessionEnd  chan struct{} // if set, gets a value when a session stream ends
	subscribes  chan *warrenpb.Subscribe
	feed        chan *warrenpb.Delivery // deliveries for the consume stream
	settles     chan *warrenpb.Settle   // settles received on consume streams
	consumeEnd  chan struct{}           // gets a value when a consume stream ends
	failNext    map[string][]error      // per method: errors for the next calls, after recording them
	heartbeats  atomic.Int64            // heartbeats sent on "beating" streams
	leaderHint  string                  // Publish answers name it as the leader
}

func newFakeBroker() *fakeBroker {
	return &fakeBroker{
		minMeta:    make(map[string]uint64),
		subscribes: make(chan *warrenpb.Subscribe, 16),
		feed:       make(chan *warrenpb.Delivery),
		settles:    make(chan *warrenpb.Settle, 1024),
		consumeEnd: make(chan struct{}, 16),
		failNext:   make(map[string][]error),
	}
}

// failWith makes the next len(errs) calls of method (Publish, Get,
// DeclareQueue, ListQueues) fail with errs in turn, after the request was
// recorded.
func (f *fakeBroker) failWith(method string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = append(f.failNext[method], errs...)
}

// injected pops the next error for method; f.mu must be held.
func (f *fakeBroker) injected(method string) error {
	errs := f.failNext[method]
	if len(errs) == 0 {
		return nil
	}
	f.failNext[method] = errs[1:]
	return errs[0]
}

func (f *fakeBroker) noteMeta(method string, idx uint64) {
	f.mu.Lock()
	f.minMeta[method] = idx
	f.mu.Unlock()
}

func (f *fakeBroker) lastMinMeta(method string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minMeta[method]
}

func (f *fakeBroker) DeclareExchange(_ context.Context, r *warrenpb.DeclareExchangeRequest) (*warrenpb.DeclareExchangeResponse, error) {
	f.noteMeta("DeclareExchange", r.GetMinMetaIndex())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &warrenpb.DeclareExchangeResponse{MetaIndex: f.metaIndex}, nil
}

func (f *fakeBroker) DeclareQueue(_ context.Context, r *warrenpb.DeclareQueueRequest) (*warrenpb.DeclareQueueResponse, error) {
	f.noteMeta("DeclareQueue", r.GetMinMetaIndex())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queueReqs = append(f.queueReqs, r)
	if err := f.injected("DeclareQueue"); err != nil {
		return nil, err
	}
	if r.GetName() == "missing" {
		return nil, status.Error(codes.NotFound, "queue \"missing\" not found")
	}
	name := r.GetName()
	if name == "" {
		name = "amq.gen-1"
	}
	return &warrenpb.DeclareQueueResponse{Name: name, MessageCount: 3, ConsumerCount: 1, MetaIndex: f.metaIndex}, nil
}

func (f *fakeBroker) ListQueues(_ context.Context, r *warrenpb.ListQueuesRequest) (*warrenpb.ListQueuesResponse, error) {
	f.noteMeta("ListQueues", r.GetMinMetaIndex())
	f.mu.Lock()
	f.listCalls++
	err := f.injected("ListQueues")
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &warrenpb.ListQueuesResponse{Queues: []*warrenpb.QueueInfo{{Name: "q", Ready: 5, Unacked: 2, Consumers: 1}}}, nil
}

func (f *fakeBroker) BindQueue(_ context.Context, r *warrenpb.BindQueueRequest) (*warrenpb.BindQueueResponse, error) {
	f.noteMeta("BindQueue", r.GetMinMetaIndex())
	return &warrenpb.BindQueueResponse{}, nil
}

func (f *fakeBroker) Publish(ctx context.Context, r *warrenpb.PublishRequest) (*warrenpb.PublishResponse, error) {
	f.noteMeta("Publish", r.GetMinMetaIndex())
	f.mu.Lock()
	f.publishes = append(f.publishes, r)
	seen, gate := f.publishSeen, f.publishGate
	injected := f.injected("Publish")
	f.mu.Unlock()
	if seen != nil {
		seen <- len(r.GetEntries())
	}
	if injected != nil {
		return nil, injected
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	resp := &warrenpb.PublishResponse{LeaderGrpcAddr: f.leaderHint}
	f.mu.Unlock()
	for _, e := range r.GetEntries() {
		res := &warrenpb.PublishResult{Status: warrenpb.PublishStatus_PUBLISH_STATUS_CONFIRMED}
		switch {
		case e.GetRoutingKey() == "unroutable" && e.GetMandatory():
			res.Status = warrenpb.PublishStatus_PUBLISH_STATUS_UNROUTABLE
		case e.GetRoutingKey() == "reject":
			res = &warrenpb.PublishResult{Status: warrenpb.PublishStatus_PUBLISH_STATUS_REJECTED, Reason: "queue full"}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (f *fakeBroker) publishedEntries() []*warrenpb.PublishEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*warrenpb.PublishEntry
	for _, r := range f.publishes {
		out = append(out, r.GetEntries()...)
	}
	return out
}

func (f *fakeBroker) Get(_ context.Context, r *warrenpb.GetRequest) (*warrenpb.GetResponse, error) {
	f.noteMeta("Get", r.GetMinMetaIndex())
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getReqs = append(f.getReqs, r)
	if err := f.injected("Get"); err != nil {
		return nil, err
	}
	if r.GetQueue() == "empty" {
		return &warrenpb.GetResponse{}, nil
	}
	f.nextTag++
	return &warrenpb.GetResponse{
		Delivery: &warrenpb.Delivery{
			DeliveryTag: f.nextTag,
			Exchange:    "ex",
			RoutingKey:  "rk",
			Message:     &warrenpb.Message{Body: []byte("hello")},
		},
		MessageCount: 4,
	}, nil
}

func (f *fakeBroker) Settle(_ context.Context, r *warrenpb.SettleRequest) (*warrenpb.SettleResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settleReqs = append(f.settleReqs, r)
	return &warrenpb.SettleResponse{}, nil
}

func (f *fakeBroker) Session(stream grpc.BidiStreamingServer[warrenpb.SessionRequest, warrenpb.SessionResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.sessionIDs = append(f.sessionIDs, first.GetSessionId())
	end := f.sessionEnd
	f.mu.Unlock()
	if end != nil {
		defer func() { end <- struct{}{} }()
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

func (f *fakeBroker) Consume(stream grpc.BidiStreamingServer[warrenpb.ConsumeRequest, warrenpb.ConsumeResponse]) error {
	defer func() { f.consumeEnd <- struct{}{} }()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	sub := first.GetSubscribe()
	if sub == nil {
		return status.Error(codes.InvalidArgument, "first message must be Subscribe")
	}
	f.subscribes <- sub
	switch sub.GetQueue() {
	case "missing":
		return status.Error(codes.NotFound, "queue \"missing\" not found")
	case "silent":
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	tag := sub.GetConsumerTag()
	if tag == "" {
		tag = "ctag-1"
	}
	hb := uint32(0)
	if sub.GetQueue() == "hushed" || sub.GetQueue() == "beating" {
		hb = sub.GetHeartbeatMs() // promises heartbeats; only "beating" keeps it
	}
	if err := stream.Send(&warrenpb.ConsumeResponse{Response: &warrenpb.ConsumeResponse_Subscribed{
		Subscribed: &warrenpb.Subscribed{ConsumerTag: tag, Queue: sub.GetQueue(), HeartbeatMs: hb},
	}}); err != nil {
		return err
	}
	if sub.GetQueue() == "failing" {
		return status.Error(codes.Unavailable, "leader moved")
	}
	var beat <-chan time.Time
	if sub.GetQueue() == "beating" && hb > 0 {
		t := time.NewTicker(time.Duration(hb) * time.Millisecond)
		defer t.Stop()
		beat = t.C
	}
	recvDone := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvDone <- err
				return
			}
			f.settles <- req.GetSettle()
		}
	}()
	for {
		select {
		case d := <-f.feed:
			if err := stream.Send(&warrenpb.ConsumeResponse{Response: &warrenpb.ConsumeResponse_Delivery{Delivery: d}}); err != nil {
				return err
			}
		case <-beat:
			if err := stream.Send(&warrenpb.ConsumeResponse{Response: &warrenpb.ConsumeResponse_Heartbeat{Heartbeat: &warrenpb.Heartbeat{}}}); err != nil {
				return err
			}
			f.heartbeats.Add(1)
		case <-recvDone:
			return nil
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// startFake serves fb on a loopback listener and returns its address; the
// server stops at the end of the test.
func startFake(t testing.TB, fb *fakeBroker) string {
	t.Helper()
	addr, _ := startStoppableFake(t, fb)
	return addr
}

// startStoppableFake is startFake that also returns a function stopping the
// server at once (idempotent; it also runs at the end of the test).
func startStoppableFake(t testing.TB, fb *fakeBroker) (string, func()) {
	t.Helper()
	return startFakeAt(t, fb, "127.0.0.1:0")
}

// startFakeAt is startStoppableFake on a given address.
func startFakeAt(t testing.TB, fb *fakeBroker, addr string) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             5 * time.Second,
		PermitWithoutStream: true,
	}))
	warrenpb.RegisterBrokerServiceServer(srv, fb)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	stop := func() {
		srv.Stop()
		<-served
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// newTestClient starts fb and connects a client to it; the client closes at
// the end of the test (before the server stops).
func newTestClient(t *testing.T, fb *fakeBroker, opts ...Option) *Client {
	t.Helper()
	addr := startFake(t, fb)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := New(ctx, []string{addr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testCtx returns a context bounded by waitTimeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recvWithin receives from ch or fails the test after waitTimeout.
func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
