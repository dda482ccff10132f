package client

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

func TestConsumeSettlesForTheHandler(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "q", func(ctx context.Context, d *Delivery) error {
			switch string(d.Body) {
			case "bad":
				return errors.New("cannot handle")
			case "self":
				return d.Reject(ctx, RejectOptions{})
			}
			return nil
		}, ConsumeOptions{Prefetch: 1})
	}()
	recvWithin(t, fb.subscribes, "Subscribe")
	want := []struct {
		body    string
		kind    warrenpb.SettleKind
		requeue bool
	}{
		{"ok", warrenpb.SettleKind_SETTLE_KIND_ACK, false},
		{"bad", warrenpb.SettleKind_SETTLE_KIND_NACK, true},
		{"self", warrenpb.SettleKind_SETTLE_KIND_REJECT, false},
		{"ok", warrenpb.SettleKind_SETTLE_KIND_ACK, false},
	}
	for i, w := range want {
		feedDelivery(t, fb, uint64(i+1), w.body)
		st := recvWithin(t, fb.settles, "settle")
		if st.GetDeliveryTag() != uint64(i+1) || st.GetKind() != w.kind || st.GetRequeue() != w.requeue {
			t.Fatalf("settle %v for %q, want %v requeue=%v", st, w.body, w.kind, w.requeue)
		}
	}
	cancel()
	if err := recvWithin(t, done, "Consume to return"); err != nil {
		t.Fatalf("Consume = %v, want nil after cancel", err)
	}
	recvWithin(t, fb.consumeEnd, "the consume stream to end")
}

// TestConsumeManualSettle: with ManualSettle, Consume settles nothing the
// handler left unsettled, whatever it returned (the CLI's
// --requeue-on-exit holds its deliveries until it exits).
func TestConsumeManualSettle(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "q", func(ctx context.Context, d *Delivery) error {
			switch string(d.Body) {
			case "bad":
				return errors.New("cannot handle")
			case "self":
				return d.Ack(ctx)
			}
			return nil
		}, ConsumeOptions{ManualSettle: true})
	}()
	recvWithin(t, fb.subscribes, "Subscribe")
	for i, body := range []string{"ok", "bad", "self"} {
		feedDelivery(t, fb, uint64(i+1), body)
	}
	// The only settle is the handler's own, of the third delivery.
	if st := recvWithin(t, fb.settles, "settle"); st.GetDeliveryTag() != 3 || st.GetKind() != warrenpb.SettleKind_SETTLE_KIND_ACK {
		t.Fatalf("settle %v, want the handler's ack of tag 3", st)
	}
	cancel()
	if err := recvWithin(t, done, "Consume to return"); err != nil {
		t.Fatalf("Consume = %v, want nil after cancel", err)
	}
	select {
	case st := <-fb.settles:
		t.Fatalf("Consume settled %v for the handler", st)
	default:
	}
}

func TestConsumeRunsHandlersConcurrently(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	const n = 3
	running := make(chan struct{}, n)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "q", func(ctx context.Context, d *Delivery) error {
			running <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}, ConsumeOptions{Prefetch: n, Concurrency: n})
	}()
	recvWithin(t, fb.subscribes, "Subscribe")
	for i := range n {
		feedDelivery(t, fb, uint64(i+1), "x")
	}
	for range n { // all n handlers are inside at once
		recvWithin(t, running, "a handler to start")
	}
	close(release)
	for range n {
		recvWithin(t, fb.settles, "settle")
	}
	cancel()
	if err := recvWithin(t, done, "Consume to return"); err != nil {
		t.Fatal(err)
	}
}

func TestConsumeResubscribesAfterStreamFailure(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		// "failing" answers Subscribed and then ends the stream with Unavailable.
		done <- c.Consume(ctx, "failing", func(context.Context, *Delivery) error { return nil }, ConsumeOptions{Prefetch: 5})
	}()
	first := recvWithin(t, fb.subscribes, "Subscribe")
	if first.GetConsumerTag() != "" {
		t.Fatalf("first Subscribe carries tag %q, want none", first.GetConsumerTag())
	}
	for i := range 2 {
		again := recvWithin(t, fb.subscribes, "a re-subscription")
		if again.GetConsumerTag() != "ctag-1" || again.GetPrefetch() != 5 || again.GetSessionId() != c.SessionID() {
			t.Fatalf("re-subscription %d = %v, want tag ctag-1 (the server's), prefetch 5, the session id", i, again)
		}
	}
	cancel()
	if err := recvWithin(t, done, "Consume to return"); err != nil {
		t.Fatalf("Consume = %v, want nil after cancel", err)
	}
}

func TestConsumeReturnsPermanentErrors(t *testing.T) {
	c := newTestClient(t, newFakeBroker())
	err := c.Consume(testCtx(t), "missing", func(context.Context, *Delivery) error { return nil }, ConsumeOptions{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Consume = %v, want NotFound", err)
	}
	if err := c.Consume(testCtx(t), "q", nil, ConsumeOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Consume with a nil handler = %v, want ErrInvalidArgument", err)
	}
}

func TestConsumeEndsOnClientClose(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(testCtx(t), "q", func(context.Context, *Delivery) error { return nil }, ConsumeOptions{})
	}()
	recvWithin(t, fb.subscribes, "Subscribe")
	_ = c.Close()
	if err := recvWithin(t, done, "Consume to return"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume = %v, want ErrClosed", err)
	}
}
