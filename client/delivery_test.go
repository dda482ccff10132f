package client

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

func TestGetEmptyQueue(t *testing.T) {
	c := newTestClient(t, newFakeBroker())
	d, ok, err := c.Get(testCtx(t), "empty", GetOptions{})
	if err != nil || ok || d != nil {
		t.Fatalf("Get = %v, %v, %v; want nil, false, nil", d, ok, err)
	}
}

func TestGetSettlesOnceThroughSettleRPC(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	d, ok, err := c.Get(ctx, "q", GetOptions{Lease: 1500 * time.Microsecond})
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if string(d.Body) != "hello" || d.Queue != "q" || d.RoutingKey != "rk" || d.MessageCount != 4 {
		t.Fatalf("delivery %+v", d)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("second Ack = %v, want ErrAlreadySettled", err)
	}
	if err := d.Reject(ctx, RejectOptions{Requeue: true}); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("Reject after Ack = %v, want ErrAlreadySettled", err)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if got := fb.getReqs[0].GetLeaseMs(); got != 2 {
		t.Errorf("lease %dms, want 2", got)
	}
	if len(fb.settleReqs) != 1 {
		t.Fatalf("%d settles sent, want 1", len(fb.settleReqs))
	}
	r := fb.settleReqs[0]
	if r.GetSessionId() != c.SessionID() || r.GetQueue() != "q" || r.GetSettle().GetDeliveryTag() != d.DeliveryTag ||
		r.GetSettle().GetKind() != warrenpb.SettleKind_SETTLE_KIND_ACK {
		t.Fatalf("settle %v", r)
	}
}

func TestGetAutoAckIsSettled(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	d, _, err := c.Get(ctx, "q", GetOptions{AutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Settled() {
		t.Fatal("auto-ack delivery not settled")
	}
	if err := d.Ack(ctx); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("Ack = %v, want ErrAlreadySettled", err)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if !fb.getReqs[0].GetAutoAck() || len(fb.settleReqs) != 0 {
		t.Fatalf("auto_ack %v, %d settles; want true, 0", fb.getReqs[0].GetAutoAck(), len(fb.settleReqs))
	}
}

func TestGetAckMultipleSettlesEarlierGets(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	var ds []*Delivery
	for range 3 {
		d, _, err := c.Get(ctx, "q", GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	if err := ds[1].AckMultiple(ctx); err != nil {
		t.Fatal(err)
	}
	if !ds[0].Settled() || !ds[1].Settled() || ds[2].Settled() {
		t.Fatalf("settled %v %v %v; want true true false", ds[0].Settled(), ds[1].Settled(), ds[2].Settled())
	}
	if err := ds[0].Nack(ctx, NackOptions{}); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("Nack of a multiply-acked delivery = %v, want ErrAlreadySettled", err)
	}
	if err := ds[2].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.settleReqs) != 2 || !fb.settleReqs[0].GetSettle().GetMultiple() {
		t.Fatalf("settles %v; want a multiple ack then a single ack", fb.settleReqs)
	}
}

func feedDelivery(t *testing.T, fb *fakeBroker, tag uint64, body string) {
	t.Helper()
	d := &warrenpb.Delivery{DeliveryTag: tag, RoutingKey: "rk", Message: &warrenpb.Message{Body: []byte(body)}}
	select {
	case fb.feed <- d:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out feeding delivery %d", tag)
	}
}

func TestSubscribeDeliversAndSettlesOnStream(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", ConsumeOptions{Prefetch: 2, ConsumerTag: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	s := recvWithin(t, fb.subscribes, "Subscribe")
	if s.GetPrefetch() != 2 || s.GetAckMode() != warrenpb.AckMode_ACK_MODE_MANUAL || s.GetSessionId() != c.SessionID() {
		t.Fatalf("subscribe %v", s)
	}
	if sub.ConsumerTag() != "mine" {
		t.Fatalf("consumer tag %q", sub.ConsumerTag())
	}
	feedDelivery(t, fb, 1, "one")
	feedDelivery(t, fb, 2, "two")
	d1 := recvWithin(t, sub.Deliveries(), "delivery 1")
	d2 := recvWithin(t, sub.Deliveries(), "delivery 2")
	if string(d1.Body) != "one" || d1.Queue != "q" || d1.ConsumerTag != "mine" {
		t.Fatalf("delivery %+v", d1)
	}
	if err := d1.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d1.Ack(ctx); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("second Ack = %v, want ErrAlreadySettled", err)
	}
	if err := d2.Nack(ctx, NackOptions{Requeue: true}); err != nil {
		t.Fatal(err)
	}
	st := recvWithin(t, fb.settles, "settle 1")
	if st.GetKind() != warrenpb.SettleKind_SETTLE_KIND_ACK || st.GetDeliveryTag() != 1 {
		t.Fatalf("settle %v, want ack of 1", st)
	}
	// The settle after the refused double ack is the nack: nothing else was sent.
	st = recvWithin(t, fb.settles, "settle 2")
	if st.GetKind() != warrenpb.SettleKind_SETTLE_KIND_NACK || st.GetDeliveryTag() != 2 || !st.GetRequeue() {
		t.Fatalf("settle %v, want requeueing nack of 2", st)
	}
}

func TestConcurrentSettlesOnOneStream(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", ConsumeOptions{Prefetch: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	const n = 64
	go func() {
		for i := range n {
			select {
			case fb.feed <- &warrenpb.Delivery{DeliveryTag: uint64(i + 1)}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range n {
		d := recvWithin(t, sub.Deliveries(), "delivery")
		wg.Add(2)
		for range 2 { // two racing acks: exactly one is sent
			go func() {
				defer wg.Done()
				_ = d.Ack(ctx)
			}()
		}
	}
	wg.Wait()
	seen := make(map[uint64]bool)
	for range n {
		st := recvWithin(t, fb.settles, "settle")
		if seen[st.GetDeliveryTag()] {
			t.Fatalf("tag %d settled twice", st.GetDeliveryTag())
		}
		seen[st.GetDeliveryTag()] = true
	}
}

func TestSubscribeRefusedKeepsStatus(t *testing.T) {
	c := newTestClient(t, newFakeBroker())
	_, err := c.Subscribe(testCtx(t), "missing", ConsumeOptions{})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Subscribe error = %v, want NotFound", err)
	}
}

func TestSubscribeHonoursContext(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(ctx, "silent", ConsumeOptions{})
		done <- err
	}()
	recvWithin(t, fb.subscribes, "Subscribe")
	cancel()
	if err := recvWithin(t, done, "Subscribe to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe error = %v, want context.Canceled", err)
	}
	recvWithin(t, fb.consumeEnd, "the consume stream to end")
}

func TestSubscriptionClose(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	feedDelivery(t, fb, 1, "x")
	d := recvWithin(t, sub.Deliveries(), "delivery")
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	recvWithin(t, fb.consumeEnd, "the consume stream to end")
	if _, ok := <-sub.Deliveries(); ok {
		t.Fatal("deliveries channel still open")
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", sub.Err())
	}
	if err := d.Ack(ctx); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("Ack after Close = %v, want ErrSubscriptionEnded", err)
	}
	_ = sub.Close()
}

func TestSubscriptionFailureReported(t *testing.T) {
	c := newTestClient(t, newFakeBroker())
	sub, err := c.Subscribe(testCtx(t), "failing", ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recvWithin(t, sub.Done(), "the subscription to end")
	if _, ok := <-sub.Deliveries(); ok {
		t.Fatal("deliveries channel still open")
	}
	if status.Code(sub.Err()) != codes.Unavailable {
		t.Fatalf("Err = %v, want Unavailable", sub.Err())
	}
}
