package client

import (
	"context"
	"errors"
	"slices"
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
	// Retries do not use up sequence numbers. (The batch may go in more
	// than one request: with nothing in flight the batcher sends what is
	// queued at once, which may be its first entry alone.)
	if _, err := c.PublishBatch(ctx, pubs); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	next := fb.publishes[len(reqs)]
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
