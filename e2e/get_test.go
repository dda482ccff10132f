package e2e_test

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestGetReturnedOnClose: an unacked get belongs to the session; when the
// client closes, the message is ready again at once and redelivered on the
// next get.
func TestGetReturnedOnClose(t *testing.T) {
	n := startNode(t)
	admin := newClient(t, n.Addr)
	const q = "get-close"
	declareQueue(t, admin, q, nil)
	publishIDs(t, admin, q, "g-", 1)
	ctx := testCtx(t, 20*time.Second)

	taker := newClient(t, n.Addr)
	d, ok, err := taker.Get(ctx, q, client.GetOptions{})
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if d.Redelivered || d.DeliveryCount != 0 || d.MessageCount != 0 {
		t.Fatalf("first get: redelivered %t count %d left %d", d.Redelivered, d.DeliveryCount, d.MessageCount)
	}
	waitCounts(t, admin, q, 0, 1)

	if err := taker.Close(); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, admin, q, 1, 0)

	d2, ok, err := admin.Get(ctx, q, client.GetOptions{})
	if err != nil || !ok {
		t.Fatalf("get after close: %v %v", ok, err)
	}
	if string(d2.Body) != "g-0" || !d2.Redelivered || d2.DeliveryCount < 1 {
		t.Fatalf("get after close: %q redelivered %t count %d", d2.Body, d2.Redelivered, d2.DeliveryCount)
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, admin, q, 0, 0)
}

// TestGetLease: an unacked get with a lease returns to the queue when the
// lease runs out, while its client stays open.
func TestGetLease(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q, lease = "get-lease", 500 * time.Millisecond
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "l-", 1)
	ctx := testCtx(t, 20*time.Second)

	start := time.Now()
	d, ok, err := c.Get(ctx, q, client.GetOptions{Lease: lease})
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	waitCounts(t, c, q, 1, 0)
	back := time.Since(start)
	if back < lease-50*time.Millisecond {
		t.Fatalf("message back after %v, before its %v lease ran out", back, lease)
	}
	d2, ok, err := c.Get(ctx, q, client.GetOptions{})
	if err != nil || !ok {
		t.Fatalf("get after lease: %v %v", ok, err)
	}
	if string(d2.Body) != "l-0" || !d2.Redelivered || d2.DeliveryCount < 1 {
		t.Fatalf("get after lease: %q redelivered %t count %d", d2.Body, d2.Redelivered, d2.DeliveryCount)
	}
	// The expired get's tag is no longer ours to settle.
	if err := d.Ack(ctx); err == nil {
		t.Errorf("ack of a get whose lease ran out succeeded")
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 0, 0)
}

// TestGetAckAndEmpty: a get that is acked is gone; a get on an empty queue
// reports ok=false without error.
func TestGetAckAndEmpty(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "get-ack"
	declareQueue(t, c, q, nil)
	ctx := testCtx(t, 20*time.Second)

	if d, ok, err := c.Get(ctx, q, client.GetOptions{}); err != nil || ok || d != nil {
		t.Fatalf("get on an empty queue: %v %t %v; want nil, false, nil", d, ok, err)
	}
	publishIDs(t, c, q, "k-", 2)
	d, ok, err := c.Get(ctx, q, client.GetOptions{})
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if string(d.Body) != "k-0" || d.MessageCount != 1 {
		t.Fatalf("get: %q with %d left; want k-0 with 1 left", d.Body, d.MessageCount)
	}
	waitCounts(t, c, q, 1, 1)
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 1, 0)
	d, ok, err = c.Get(ctx, q, client.GetOptions{AutoAck: true})
	if err != nil || !ok || string(d.Body) != "k-1" {
		t.Fatalf("auto-ack get: %v %v %v", d, ok, err)
	}
	waitCounts(t, c, q, 0, 0)
	if _, ok, err := c.Get(ctx, q, client.GetOptions{}); err != nil || ok {
		t.Fatalf("get after both were taken: %t %v; want false, nil", ok, err)
	}
}
