package client

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestPublishStatuses(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)

	res, err := c.Publish(ctx, "ex", "k", Message{Body: []byte("a")})
	if err != nil || res.Status != Confirmed {
		t.Fatalf("Publish = %v, %v; want confirmed", res, err)
	}
	res, err = c.Publish(ctx, "ex", "unroutable", Message{}, Mandatory())
	if err != nil || res.Status != Unroutable {
		t.Fatalf("mandatory unroutable Publish = %v, %v; want unroutable, nil", res, err)
	}
	res, err = c.Publish(ctx, "ex", "unroutable", Message{})
	if err != nil || res.Status != Confirmed {
		t.Fatalf("non-mandatory unroutable Publish = %v, %v; want confirmed", res, err)
	}
	res, err = c.Publish(ctx, "ex", "reject", Message{})
	if !errors.Is(err, ErrRejected) || res.Status != Rejected || res.Reason != "queue full" {
		t.Fatalf("rejected Publish = %v, %v; want Rejected, ErrRejected", res, err)
	}
	entries := fb.publishedEntries()
	if len(entries) != 4 || !entries[1].GetMandatory() || entries[0].GetMandatory() {
		t.Fatalf("entries %v: want 4 with only the second mandatory", entries)
	}
}

func TestBatcherCoalescesQueuedPublishes(t *testing.T) {
	fb := newFakeBroker()
	fb.publishSeen = make(chan int, 16)
	fb.publishGate = make(chan struct{}, 16)
	c := newTestClient(t, fb, WithPublishInFlight(1), WithPublishBatch(50, 0), WithPublisherID("p1"))
	ctx := testCtx(t)

	first := c.PublishAsync(ctx, "", "q", Message{Body: []byte("first")})
	if n := recvWithin(t, fb.publishSeen, "first request"); n != 1 {
		t.Fatalf("first request has %d entries, want 1", n)
	}
	// The only slot is taken, so these wait in the queue and then go together.
	var futs []*PublishFuture
	for range 50 {
		futs = append(futs, c.PublishAsync(ctx, "", "q", Message{Body: []byte("x")}))
	}
	fb.publishGate <- struct{}{}
	fb.publishGate <- struct{}{}
	if n := recvWithin(t, fb.publishSeen, "second request"); n != 50 {
		t.Fatalf("second request has %d entries, want 50", n)
	}
	for _, f := range append(futs, first) {
		if res, err := f.Wait(ctx); err != nil || res.Status != Confirmed {
			t.Fatalf("Wait = %v, %v", res, err)
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	var seq uint64
	for _, r := range fb.publishes {
		if r.GetPublisherId() != "p1" {
			t.Errorf("publisher id %q, want p1", r.GetPublisherId())
		}
		for _, e := range r.GetEntries() {
			seq++
			if e.GetSequence() != seq {
				t.Fatalf("sequence %d, want %d", e.GetSequence(), seq)
			}
		}
	}
}

func TestBatcherRespectsMaxMessages(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithPublishBatch(10, time.Hour))
	ctx := testCtx(t)
	var futs []*PublishFuture
	for range 30 {
		futs = append(futs, c.PublishAsync(ctx, "", "q", Message{}))
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	// How the 30 split depends on timing (a batch goes at once when no
	// other request is in flight), but never more than 10 in one.
	total := 0
	for _, r := range fb.publishes {
		if n := len(r.GetEntries()); n > 10 {
			t.Errorf("request of %d entries, want at most 10", n)
		}
		total += len(r.GetEntries())
	}
	if total != 30 || len(fb.publishes) < 3 {
		t.Fatalf("%d entries in %d requests, want 30 in at least 3", total, len(fb.publishes))
	}
}

// TestBatcherSendsAtOnceWhenIdle: with no request in flight a publish is
// sent at once, not after the batch delay (an hour here: the publishes
// would time out); one after another, as a producer waiting for each
// confirm makes them, each goes alone.
func TestBatcherSendsAtOnceWhenIdle(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithPublishBatch(256, time.Hour))
	ctx := testCtx(t)
	for i := range 5 {
		if res, err := c.Publish(ctx, "", "q", Message{Body: []byte{byte(i)}}); err != nil || res.Status != Confirmed {
			t.Fatalf("publish %d: %v, %v", i, res, err)
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.publishes) != 5 {
		t.Fatalf("%d requests, want 5 (one per publish)", len(fb.publishes))
	}
}

// TestBatcherWaitsOnlyWhileBusy: entries queued while a request is in
// flight wait for it (the batch delay is an hour), and go together, at
// once, when it is answered.
func TestBatcherWaitsOnlyWhileBusy(t *testing.T) {
	fb := newFakeBroker()
	fb.publishSeen = make(chan int, 16)
	fb.publishGate = make(chan struct{}, 16)
	// Two request slots: with the first request in flight, the second
	// batch has half of them busy and waits; with the default eight it
	// would go at once, holding however many of the five the batcher had
	// taken by then.
	c := newTestClient(t, fb, WithPublishBatch(256, time.Hour), WithPublishInFlight(2))
	ctx := testCtx(t)

	first := c.PublishAsync(ctx, "", "q", Message{Body: []byte("first")})
	if n := recvWithin(t, fb.publishSeen, "first request"); n != 1 {
		t.Fatalf("first request has %d entries, want 1", n)
	}
	var futs []*PublishFuture
	for range 5 {
		futs = append(futs, c.PublishAsync(ctx, "", "q", Message{Body: []byte("x")}))
	}
	fb.publishGate <- struct{}{}
	fb.publishGate <- struct{}{}
	// Sent as soon as its first entry was queued, it would hold one.
	if n := recvWithin(t, fb.publishSeen, "second request"); n != 5 {
		t.Fatalf("second request has %d entries, want 5", n)
	}
	for _, f := range append(futs, first) {
		if res, err := f.Wait(ctx); err != nil || res.Status != Confirmed {
			t.Fatalf("Wait = %v, %v", res, err)
		}
	}
}

func TestBatcherRespectsMaxBytes(t *testing.T) {
	fb := newFakeBroker()
	fb.publishSeen = make(chan int, 64)
	fb.publishGate = make(chan struct{}, 64)
	const limit = 1000
	c := newTestClient(t, fb, WithPublishInFlight(1), WithPublishBatch(100, 0), WithPublishBatchBytes(limit))
	ctx := testCtx(t)
	c.PublishAsync(ctx, "", "q", Message{})
	recvWithin(t, fb.publishSeen, "first request")
	var futs []*PublishFuture
	for range 10 {
		futs = append(futs, c.PublishAsync(ctx, "", "q", Message{Body: bytes.Repeat([]byte("b"), 400)}))
	}
	for range 11 {
		fb.publishGate <- struct{}{}
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for _, r := range fb.publishes[1:] {
		size := 0
		for _, e := range r.GetEntries() {
			size += proto.Size(e)
		}
		if n := len(r.GetEntries()); n != 2 || size > limit {
			t.Errorf("request of %d entries, %d bytes; want 2 entries within %d bytes", n, size, limit)
		}
	}
}

func TestConcurrentPublishersGetDistinctSequences(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	const producers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := c.Publish(ctx, "", "q", Message{Body: []byte("m")}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[uint64]bool)
	for _, e := range fb.publishedEntries() {
		if seen[e.GetSequence()] || e.GetSequence() == 0 {
			t.Fatalf("sequence %d repeated or zero", e.GetSequence())
		}
		seen[e.GetSequence()] = true
	}
	if len(seen) != producers*each {
		t.Fatalf("%d entries, want %d", len(seen), producers*each)
	}
}

func TestPublishBatch(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	res, err := c.PublishBatch(ctx, []Publishing{
		{RoutingKey: "a"},
		{RoutingKey: "unroutable", Mandatory: true},
		{RoutingKey: "reject"},
	})
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("PublishBatch error = %v, want ErrRejected", err)
	}
	want := []PublishStatus{Confirmed, Unroutable, Rejected}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("result %d = %v, want %v", i, r.Status, want[i])
		}
	}
}

func TestPublishWaitHonoursContext(t *testing.T) {
	fb := newFakeBroker()
	fb.publishSeen = make(chan int, 4)
	fb.publishGate = make(chan struct{}) // never opened: the request stays in flight
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.Publish(ctx, "", "q", Message{})
		done <- err
	}()
	recvWithin(t, fb.publishSeen, "request")
	cancel()
	if err := recvWithin(t, done, "Publish to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish error = %v, want context.Canceled", err)
	}
}

func TestCloseFailsPendingPublishes(t *testing.T) {
	fb := newFakeBroker()
	fb.publishSeen = make(chan int, 4)
	fb.publishGate = make(chan struct{})
	c := newTestClient(t, fb, WithPublishInFlight(1), WithPublishBatch(1, 0))
	ctx := testCtx(t)
	inFlight := c.PublishAsync(ctx, "", "q", Message{})
	recvWithin(t, fb.publishSeen, "request")
	queued := c.PublishAsync(ctx, "", "q", Message{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := inFlight.Wait(ctx)
	if !errors.Is(err, ErrClosed) || status.Code(err) != codes.Canceled {
		t.Errorf("in-flight publish error = %v (code %v), want ErrClosed and Canceled", err, status.Code(err))
	}
	if _, err := queued.Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("queued publish error = %v, want ErrClosed", err)
	}
	if _, err := c.Publish(ctx, "", "q", Message{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close error = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestMetaIndexReadYourWrites(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	fb.mu.Lock()
	fb.metaIndex = 7
	fb.mu.Unlock()
	if err := c.DeclareExchange(ctx, "ex", "topic", ExchangeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fb.lastMinMeta("ListQueues"); got != 7 {
		t.Fatalf("ListQueues min_meta_index = %d, want 7", got)
	}
	fb.mu.Lock()
	fb.metaIndex = 3
	fb.mu.Unlock()
	if _, err := c.DeclareQueue(ctx, "q", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "", "q", Message{}); err != nil {
		t.Fatal(err)
	}
	if got := fb.lastMinMeta("Publish"); got != 7 {
		t.Fatalf("Publish min_meta_index = %d, want 7 (never lower)", got)
	}
	if _, _, err := c.Get(ctx, "q", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := fb.lastMinMeta("Get"); got != 7 {
		t.Fatalf("Get min_meta_index = %d, want 7", got)
	}
}

func TestRPCErrorsKeepStatus(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	_, err := c.DeclareQueue(ctx, "missing", QueueOptions{Passive: true})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("DeclareQueue error = %v, want NotFound", err)
	}
	// The fake does not implement DeleteExchange.
	if err := c.DeleteExchange(ctx, "ex", DeleteExchangeOptions{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("DeleteExchange error = %v, want Unimplemented", err)
	}
}

// BenchmarkPublishAsync measures one producer publishing asynchronously
// through the batcher to the in-process fake (confirms included).
func BenchmarkPublishAsync(b *testing.B) {
	addr := startFake(b, newFakeBroker())
	c, err := New(context.Background(), []string{addr})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	msg := Message{Body: make([]byte, 1024)}
	futs := make([]*PublishFuture, 0, 4096)
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		futs = append(futs, c.PublishAsync(ctx, "", "q", msg))
		if len(futs) == cap(futs) || i == b.N-1 {
			for _, f := range futs {
				if _, err := f.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			futs = futs[:0]
		}
	}
}
