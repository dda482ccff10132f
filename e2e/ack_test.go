package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestNackRequeue: a nack with requeue puts the message back; it comes
// again marked redelivered with delivery count 1.
func TestNackRequeue(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "nack"
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "n-", 1)
	sub := subscribe(t, c, q, client.ConsumeOptions{Prefetch: 1})
	ctx := testCtx(t, 20*time.Second)

	d := recv(t, sub, 5*time.Second)
	if d.Redelivered || d.DeliveryCount != 0 {
		t.Fatalf("first delivery: redelivered %t, count %d; want false, 0", d.Redelivered, d.DeliveryCount)
	}
	if err := d.Nack(ctx, client.NackOptions{Requeue: true}); err != nil {
		t.Fatal(err)
	}
	d2 := recv(t, sub, 5*time.Second)
	if string(d2.Body) != "n-0" || !d2.Redelivered || d2.DeliveryCount != 1 {
		t.Fatalf("after nack: %q redelivered %t count %d; want n-0, true, 1", d2.Body, d2.Redelivered, d2.DeliveryCount)
	}
	if d2.DeliveryTag <= d.DeliveryTag {
		t.Errorf("delivery tags not increasing: %d then %d", d.DeliveryTag, d2.DeliveryTag)
	}
	if err := d2.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 0, 0)
}

// TestRejectNoRequeue: a reject without requeue drops the message (the
// queue has no dead-letter exchange); it never comes back.
func TestRejectNoRequeue(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "reject"
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "r-", 1)
	sub := subscribe(t, c, q, client.ConsumeOptions{Prefetch: 1})
	ctx := testCtx(t, 20*time.Second)

	d := recv(t, sub, 5*time.Second)
	if err := d.Reject(ctx, client.RejectOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 0, 0)
	expectNone(t, sub, 300*time.Millisecond, nil)
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitConsumers(t, c, q, 0)
	if d, ok, err := c.Get(ctx, q, client.GetOptions{AutoAck: true}); err != nil || ok {
		t.Fatalf("get after reject: %v %t %v; want an empty queue", d, ok, err)
	}
}

// TestAutoAck: an auto-ack consumer gets every message and nothing stays
// unacked; closing it brings nothing back (at most once).
func TestAutoAck(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q, total = "autoack", 10
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "a-", total)
	sub := subscribe(t, c, q, client.ConsumeOptions{AutoAck: true, Prefetch: 3})
	ctx := testCtx(t, 20*time.Second)

	for i := 0; i < total; i++ {
		d := recv(t, sub, 5*time.Second)
		if id := idOf(t, d.Body); id != i {
			t.Fatalf("delivery %d is message %d", i, id)
		}
		if !d.Settled() {
			t.Fatalf("auto-ack delivery %d not settled", i)
		}
		if d.Redelivered {
			t.Fatalf("auto-ack delivery %d redelivered", i)
		}
	}
	waitCounts(t, c, q, 0, 0)
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitConsumers(t, c, q, 0)
	got, err := getCounts(ctx, c, q)
	if err != nil {
		t.Fatal(err)
	}
	if got.Ready != 0 || got.Unacked != 0 {
		t.Fatalf("after closing the auto-ack consumer: %v; want nothing back", got)
	}
	if d, ok, err := c.Get(ctx, q, client.GetOptions{AutoAck: true}); err != nil || ok {
		t.Fatalf("get after auto-ack consumer closed: %v %t %v; want an empty queue", d, ok, err)
	}
}

// TestAckMultiple: acking tag 5 with multiple settles tags 1..5.
func TestAckMultiple(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "multiple"
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "m-", 7)
	sub := subscribe(t, c, q, client.ConsumeOptions{Prefetch: 0})
	ctx := testCtx(t, 20*time.Second)

	var ds []*client.Delivery
	for i := 0; i < 7; i++ {
		ds = append(ds, recv(t, sub, 5*time.Second))
	}
	waitCounts(t, c, q, 0, 7)
	fifth := ds[4]
	if fifth.DeliveryTag != 5 {
		t.Fatalf("fifth delivery has tag %d, want 5", fifth.DeliveryTag)
	}
	if err := fifth.AckMultiple(ctx); err != nil {
		t.Fatal(err)
	}
	// Only the server settling 1..5 brings unacked from 7 to 2.
	waitCounts(t, c, q, 0, 2)
	for i, d := range ds {
		if want := i < 5; d.Settled() != want {
			t.Errorf("delivery %d settled %t, want %t", d.DeliveryTag, d.Settled(), want)
		}
	}
	// The two left are still ours: closing the subscription returns them.
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 2, 0)
	left := drainGets(t, c, q)
	if fmt.Sprint(left) != "[m-5 m-6]" {
		t.Fatalf("after ack-multiple of 5 and close, queue holds %v; want [m-5 m-6]", left)
	}
}
