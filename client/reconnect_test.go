package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fastBackoff keeps retries in these tests quick.
var fastBackoff = WithReconnectBackoff(time.Millisecond, 20*time.Millisecond)

// warrenUnavailable is an Unavailable status with a Warren ErrorInfo, as
// transport/errors.go builds it.
func warrenUnavailable(t *testing.T, reason string, md map[string]string) error {
	t.Helper()
	st, err := status.New(codes.Unavailable, "injected "+reason).
		WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "warren", Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func notLeader(t *testing.T) error {
	return warrenUnavailable(t, "NOT_LEADER", map[string]string{"group": "q1", "leader_id": "node2", "leader_addr": "127.0.0.1:5691"})
}

func outcomeUnknown(t *testing.T) error { return warrenUnavailable(t, "OUTCOME_UNKNOWN", nil) }

// stateLog records the states reported to a WithStateChange callback and
// flags concurrent calls.
type stateLog struct {
	mu         sync.Mutex
	states     []State
	inside     atomic.Bool
	concurrent atomic.Bool
}

func (l *stateLog) record(s State) {
	if !l.inside.CompareAndSwap(false, true) {
		l.concurrent.Store(true)
	}
	defer l.inside.Store(false)
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
}

func (l *stateLog) snapshot() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states)
}

// waitUntil polls cond every few milliseconds until it holds or waitTimeout
// passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		Connecting: "connecting", Connected: "connected", Reconnecting: "reconnecting", Closed: "closed", State(42): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestWarrenReasonDecodesErrorInfo(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string
		ok     bool
	}{
		{notLeader(t), "NOT_LEADER", true},
		{outcomeUnknown(t), "OUTCOME_UNKNOWN", true},
		{status.Error(codes.Unavailable, "plain"), "", false},
	} {
		st, _ := status.FromError(tc.err)
		reason, ok := warrenReason(st)
		if reason != tc.reason || ok != tc.ok {
			t.Errorf("warrenReason(%v) = %q, %t; want %q, %t", tc.err, reason, ok, tc.reason, tc.ok)
		}
	}
	other, err := status.New(codes.Unavailable, "x").WithDetails(&errdetails.ErrorInfo{Reason: "NOT_LEADER", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if reason, ok := warrenReason(other); ok {
		t.Errorf("ErrorInfo of another domain read as %q", reason)
	}
	if _, _, ok := decodeErrorInfo([]byte{0x0a, 0x05, 'a'}); ok {
		t.Error("truncated ErrorInfo decoded")
	}
}

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 80 * time.Millisecond}
	for i, ceil := range []time.Duration{10, 20, 40, 80, 80, 80} {
		ceil *= time.Millisecond
		d := b.delay()
		if d < ceil/2 || d > ceil {
			t.Fatalf("delay %d = %v, want within [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := b.delay(); d > 10*time.Millisecond {
		t.Fatalf("delay after reset = %v, want at most 10ms", d)
	}
}

func TestReconnectBackoffOption(t *testing.T) {
	for _, bad := range [][2]time.Duration{{0, time.Second}, {time.Second, time.Millisecond}, {-1, -1}} {
		if _, err := New(testCtx(t), []string{"127.0.0.1:1"}, WithReconnectBackoff(bad[0], bad[1])); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("WithReconnectBackoff(%v, %v): %v, want ErrInvalidArgument", bad[0], bad[1], err)
		}
	}
}

// TestPublishRetryKeepsPublisherIDAndSequences: a publish whose request fails
// with OUTCOME_UNKNOWN (the fake recorded it first, as a server that applied
// it would) and then NOT_LEADER is sent again with the same publisher id and
// the same sequence numbers, so the server can deduplicate it.
func TestPublishRetryKeepsPublisherIDAndSequences(t *testing.T) {
	fb := newFakeBroker()
	fb.failWith("Publish", outcomeUnknown(t), notLeader(t))
	// One request for the three messages.
	c := newTestClient(t, fb, WithPublisherID("p1"), fastBackoff, WithPublishInFlight(1), WithPublishBatch(3, waitTimeout))
	ctx := testCtx(t)
	pubs := []Publishing{
		{RoutingKey: "q", Message: Message{Body: []byte("a")}},
		{RoutingKey: "q", Message: Message{Body: []byte("b")}},
		{RoutingKey: "q", Message: Message{Body: []byte("c")}},
	}
	results, err := c.PublishBatch(ctx, pubs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Status != Confirmed {
			t.Fatalf("result %d = %v, want confirmed", i, r)
		}
	}
	fb.mu.Lock()
	reqs := slices.Clone(fb.publishes)
	fb.mu.Unlock()
	if len(reqs) < 3 {
		t.Fatalf("%d publish requests, want at least 3 (two failed, one retry answered)", len(reqs))
	}
	failed := reqs[0]
	var retries int
	for _, r := range reqs[1:] {
		if r.GetEntries()[0].GetSequence() != failed.GetEntries()[0].GetSequence() {
			continue
		}
		retries++
		if r.GetPublisherId() != "p1" || len(r.GetEntries()) != len(failed.GetEntries()) {
			t.Fatalf("retry %v differs from the failed request %v", r, failed)
		}
		for i, e := range r.GetEntries() {
			if !proto.Equal(e, failed.GetEntries()[i]) {
				t.Fatalf("retried entry %d = %v, want %v", i, e, failed.GetEntries()[i])
			}
		}
	}
	if retries != 2 {
		t.Fatalf("%d retries of the failed request, want 2", retries)
	}
	// Retries do not use up sequence numbers.
	if _, err := c.PublishBatch(ctx, pubs); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	next := fb.publishes[len(fb.publishes)-1]
	fb.mu.Unlock()
	if got := next.GetEntries()[0].GetSequence(); got != 4 {
		t.Fatalf("next request starts at sequence %d, want 4", got)
	}
}

// TestPublishRetryStopsWithCallersContext: a request that keeps failing is
// retried only while some caller still waits.
func TestPublishRetryStopsWithCallersContext(t *testing.T) {
	fb := newFakeBroker()
	errs := make([]error, 10000)
	for i := range errs {
		errs[i] = outcomeUnknown(t)
	}
	fb.failWith("Publish", errs...)
	fb.publishSeen = make(chan int, len(errs))
	c := newTestClient(t, fb, fastBackoff)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	f := c.PublishAsync(ctx, "", "q", Message{})
	for range 3 {
		recvWithin(t, fb.publishSeen, "a publish request")
	}
	cancel()
	recvWithin(t, f.Done(), "the future to complete")
	res, err := f.Wait(testCtx(t))
	if res.Status != Unconfirmed || !errors.Is(err, context.Canceled) || status.Code(err) != codes.Unavailable {
		t.Fatalf("Wait = %v, %v; want unconfirmed, Canceled wrapping the last Unavailable", res, err)
	}
}

// TestGetIsNotRetriedAfterUnknownOutcome: Get retries NOT_LEADER (the node
// did nothing) but returns OUTCOME_UNKNOWN and other Unavailable errors,
// since a retry could take a second message.
func TestGetIsNotRetriedAfterUnknownOutcome(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, fastBackoff)
	ctx := testCtx(t)
	gets := func() int {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return len(fb.getReqs)
	}
	for _, injected := range []error{outcomeUnknown(t), status.Error(codes.Unavailable, "shutting down")} {
		before := gets()
		fb.failWith("Get", injected)
		if _, _, err := c.Get(ctx, "q", GetOptions{}); status.Code(err) != codes.Unavailable {
			t.Fatalf("Get = %v, want the Unavailable error", err)
		}
		if n := gets() - before; n != 1 {
			t.Fatalf("Get sent %d requests after %v, want 1", n, injected)
		}
	}
	before := gets()
	fb.failWith("Get", notLeader(t), notLeader(t))
	d, ok, err := c.Get(ctx, "q", GetOptions{})
	if err != nil || !ok {
		t.Fatalf("Get after NOT_LEADER = %v, %t, %v; want a delivery", d, ok, err)
	}
	if n := gets() - before; n != 3 {
		t.Fatalf("Get sent %d requests, want 3 (two NOT_LEADER, one answered)", n)
	}
}

// TestIdempotentCallsRetryUnavailable: declarations and lists are retried on
// every kind of Unavailable until they succeed or ctx ends; other errors are
// returned at once.
func TestIdempotentCallsRetryUnavailable(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, fastBackoff)
	ctx := testCtx(t)
	fb.failWith("DeclareQueue", notLeader(t), outcomeUnknown(t), status.Error(codes.Unavailable, "leadership moving"))
	if _, err := c.DeclareQueue(ctx, "q", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	n := len(fb.queueReqs)
	fb.mu.Unlock()
	if n != 4 {
		t.Fatalf("%d DeclareQueue requests, want 4", n)
	}

	fb.failWith("ListQueues", status.Error(codes.InvalidArgument, "bad"))
	if _, err := c.ListQueues(ctx); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ListQueues = %v, want InvalidArgument without retry", err)
	}

	errs := make([]error, 10000)
	for i := range errs {
		errs[i] = notLeader(t)
	}
	fb.failWith("ListQueues", errs...)
	fb.mu.Lock()
	before := fb.listCalls
	fb.mu.Unlock()
	short, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.ListQueues(short)
		done <- err
	}()
	waitUntil(t, "ListQueues retries", func() bool {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return fb.listCalls >= before+3
	})
	cancel()
	if err := recvWithin(t, done, "ListQueues to return"); !errors.Is(err, context.Canceled) || status.Code(err) != codes.Unavailable {
		t.Fatalf("ListQueues = %v, want Canceled wrapping the last Unavailable", err)
	}
	fb.mu.Lock()
	fb.failNext["ListQueues"] = nil
	fb.mu.Unlock()
}

// TestFailoverTriesAddressesAfterTheFailedOne: connected to B of [A, B, C],
// the client fails over to C, the address after B, even though A is up
// again; the state callback sees the failover, serially.
func TestFailoverTriesAddressesAfterTheFailedOne(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrA := lis.Addr().String()
	_ = lis.Close()
	fbA, fbB, fbC := newFakeBroker(), newFakeBroker(), newFakeBroker()
	addrB, stopB := startStoppableFake(t, fbB)
	addrC, _ := startStoppableFake(t, fbC)
	var log stateLog
	c, err := New(testCtx(t), []string{addrA, addrB, addrC}, WithStateChange(log.record), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Addr() != addrB || c.State() != Connected {
		t.Fatalf("connected to %s (%v), want %s (A is down)", c.Addr(), c.State(), addrB)
	}
	startFakeAt(t, fbA, addrA)
	ctx := testCtx(t)
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	stopB()
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatalf("ListQueues after B stopped: %v", err)
	}
	if c.Addr() != addrC {
		t.Fatalf("failed over to %s, want %s (the address after B)", c.Addr(), addrC)
	}
	fbA.mu.Lock()
	calls := fbA.listCalls
	fbA.mu.Unlock()
	if calls != 0 {
		t.Fatalf("A answered %d calls, want 0", calls)
	}
	want := []State{Connecting, Connected, Reconnecting, Connected}
	waitUntil(t, "the state changes", func() bool { return slices.Equal(log.snapshot(), want) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.snapshot(); !slices.Equal(got, append(want, Closed)) {
		t.Fatalf("states %v, want %v", got, append(want, Closed))
	}
	if log.concurrent.Load() {
		t.Fatal("the state callback was called concurrently")
	}
}

// TestCallsWaitForReconnectWithinContext: while no address answers, calls
// wait for the reconnect and give up with their ctx.
func TestCallsWaitForReconnectWithinContext(t *testing.T) {
	fb := newFakeBroker()
	addr, stop := startStoppableFake(t, fb)
	var log stateLog
	c, err := New(testCtx(t), []string{addr}, WithStateChange(log.record), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	stop()
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	_, err = c.ListQueues(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.Unavailable {
		t.Fatalf("ListQueues = %v, want DeadlineExceeded wrapping Unavailable", err)
	}
	if c.State() != Reconnecting {
		t.Fatalf("state %v, want reconnecting", c.State())
	}
	f := c.PublishAsync(testCtx(t), "", "q", Message{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish waiting for a connection at Close: %v, want ErrClosed", err)
	}
	if c.State() != Closed {
		t.Fatalf("state %v after Close, want closed", c.State())
	}
}

// TestSubscriptionEndsOnConnectionLoss: a broken stream closes Deliveries,
// Err says Unavailable, and settling its deliveries fails with
// ErrSubscriptionEnded without sending anything.
func TestSubscriptionEndsOnConnectionLoss(t *testing.T) {
	fb := newFakeBroker()
	addr, stop := startStoppableFake(t, fb)
	c, err := New(testCtx(t), []string{addr}, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	feedDelivery(t, fb, 1, "x")
	d := recvWithin(t, sub.Deliveries(), "delivery")
	stop()
	recvWithin(t, sub.Done(), "the subscription to end")
	if _, ok := <-sub.Deliveries(); ok {
		t.Fatal("deliveries channel still open")
	}
	if status.Code(sub.Err()) != codes.Unavailable {
		t.Fatalf("Err = %v, want Unavailable", sub.Err())
	}
	if err := d.Ack(ctx); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("Ack on the ended subscription = %v, want ErrSubscriptionEnded", err)
	}
	if d.Settled() {
		t.Fatal("delivery counted as settled though no ack was sent")
	}
}

// TestSessionReopensAfterFailover: the session stream is re-opened under
// the same id on the node the client failed over to, without a call that
// needs it.
func TestSessionReopensAfterFailover(t *testing.T) {
	fbA, fbB := newFakeBroker(), newFakeBroker()
	addrA, stopA := startStoppableFake(t, fbA)
	addrB, _ := startStoppableFake(t, fbB)
	c, err := New(testCtx(t), []string{addrA, addrB}, fastBackoff, WithSessionID("s-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, _, err := c.Get(testCtx(t), "q", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	stopA()
	waitUntil(t, "the session on B", func() bool {
		fbB.mu.Lock()
		defer fbB.mu.Unlock()
		return slices.Equal(fbB.sessionIDs, []string{"s-1"})
	})
	if c.Addr() != addrB {
		t.Fatalf("connected to %s, want %s", c.Addr(), addrB)
	}
}

// TestPersistentNotLeaderMovesToAnotherNode: a node that keeps answering
// NOT_LEADER over a working connection (cut off from its cluster) is left
// once a call has got only that for hopAfter; a single NOT_LEADER is retried
// in place.
func TestPersistentNotLeaderMovesToAnotherNode(t *testing.T) {
	defer func(d time.Duration) { hopAfter = d }(hopAfter)
	hopAfter = 100 * time.Millisecond
	fbA, fbB := newFakeBroker(), newFakeBroker()
	addrA, _ := startStoppableFake(t, fbA)
	addrB, _ := startStoppableFake(t, fbB)
	c, err := New(testCtx(t), []string{addrA, addrB}, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := testCtx(t)
	fbA.failWith("ListQueues", notLeader(t))
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Addr() != addrA {
		t.Fatalf("moved to %s after one NOT_LEADER", c.Addr())
	}
	errs := make([]error, 1000)
	for i := range errs {
		errs[i] = notLeader(t)
	}
	fbA.failWith("ListQueues", errs...)
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	fbA.mu.Lock()
	fbA.failNext["ListQueues"] = nil
	fbA.mu.Unlock()
	if c.Addr() != addrB {
		t.Fatalf("at %s, want %s", c.Addr(), addrB)
	}
}

// TestNotLeaderAcrossShortCallsMovesToAnotherNode: the time a node has
// answered only NOT_LEADER counts across calls, so calls whose deadlines
// are each shorter than hopAfter still leave a node cut off from its
// cluster.
func TestNotLeaderAcrossShortCallsMovesToAnotherNode(t *testing.T) {
	defer func(d time.Duration) { hopAfter = d }(hopAfter)
	hopAfter = 300 * time.Millisecond
	fbA, fbB := newFakeBroker(), newFakeBroker()
	addrA, _ := startStoppableFake(t, fbA)
	addrB, _ := startStoppableFake(t, fbB)
	c, err := New(testCtx(t), []string{addrA, addrB}, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	errs := make([]error, 10000)
	for i := range errs {
		errs[i] = notLeader(t)
	}
	fbA.failWith("ListQueues", errs...)
	calls, explained := 0, 0
	for deadline := time.Now().Add(5 * time.Second); c.Addr() == addrA; calls++ {
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after %d calls of 50 ms", addrA, calls)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.ListQueues(ctx)
		cancel()
		if err == nil {
			break
		}
		// A call whose deadline ends during its first attempt has no
		// earlier failure to report; the others name it.
		if strings.Contains(err.Error(), "NOT_LEADER") {
			explained++
		}
	}
	if explained == 0 {
		t.Fatal("no failed call said why it failed (NOT_LEADER)")
	}
	if c.Addr() != addrB {
		t.Fatalf("at %s, want %s", c.Addr(), addrB)
	}
	if calls < 2 {
		t.Fatalf("moved after %d calls; want several calls of less than hopAfter", calls)
	}
}
