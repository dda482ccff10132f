package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestReadYourWrites: a publish right after the declarations and binding
// this client made is routed by them (mandatory would report it otherwise).
func TestReadYourWrites(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	for i := 0; i < 20; i++ {
		ex, q := fmt.Sprintf("ryw-ex-%d", i), fmt.Sprintf("ryw-q-%d", i)
		declareExchange(t, c, ex, "topic")
		declareQueue(t, c, q, nil)
		bind(t, c, ex, q, "k.#", nil)
		publish(t, c, ex, "k.x", client.Message{Body: []byte(q)}, client.Confirmed, client.Mandatory())
	}
	if c.MetaIndex() == 0 {
		t.Fatal("the client saw no meta index")
	}
	for i := 0; i < 20; i++ {
		q := fmt.Sprintf("ryw-q-%d", i)
		if got := fmt.Sprint(drainGets(t, c, q)); got != "["+q+"]" {
			t.Errorf("queue %s holds %s", q, got)
		}
	}
}

// TestMaxLengthRejectPublish: a full queue with overflow reject-publish
// refuses the next message.
func TestMaxLengthRejectPublish(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "maxlen-reject"
	declareQueue(t, c, q, map[string]any{"x-max-length": 2, "x-overflow": "reject-publish"})
	publish(t, c, "", q, client.Message{Body: []byte("r-0")}, client.Confirmed)
	publish(t, c, "", q, client.Message{Body: []byte("r-1")}, client.Confirmed)
	publish(t, c, "", q, client.Message{Body: []byte("r-2")}, client.Rejected)
	if got := fmt.Sprint(drainGets(t, c, q)); got != "[r-0 r-1]" {
		t.Fatalf("queue holds %s, want [r-0 r-1]", got)
	}
	// Room again: accepted.
	publish(t, c, "", q, client.Message{Body: []byte("r-3")}, client.Confirmed)
}

// TestMaxLengthDropHead: a full queue with overflow drop-head drops its
// oldest message to take the new one.
func TestMaxLengthDropHead(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "maxlen-drop"
	declareQueue(t, c, q, map[string]any{"x-max-length": 2, "x-overflow": "drop-head"})
	publishIDs(t, c, q, "h-", 3)
	waitCounts(t, c, q, 2, 0)
	if got := fmt.Sprint(drainGets(t, c, q)); got != "[h-1 h-2]" {
		t.Fatalf("queue holds %s, want [h-1 h-2]", got)
	}
}

// TestMessageTTL: with x-message-ttl a message that nobody takes expires.
func TestMessageTTL(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	declareQueue(t, c, "ttl", map[string]any{"x-message-ttl": 200})
	declareQueue(t, c, "no-ttl", nil)
	declareExchange(t, c, "ttl-fan", "fanout")
	bind(t, c, "ttl-fan", "ttl", "", nil)
	bind(t, c, "ttl-fan", "no-ttl", "", nil)
	start := time.Now()
	publish(t, c, "ttl-fan", "", client.Message{Body: []byte("t-0")}, client.Confirmed)
	waitCounts(t, c, "ttl", 0, 0)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("expired after %v, before its 200ms TTL", d)
	}
	if got := drainGets(t, c, "ttl"); len(got) != 0 {
		t.Fatalf("expired message still delivered: %v", got)
	}
	// The same message without a TTL stays.
	if got := fmt.Sprint(drainGets(t, c, "no-ttl")); got != "[t-0]" {
		t.Fatalf("queue without TTL holds %s, want [t-0]", got)
	}
}

// TestDeadLetterOnReject: a message rejected without requeue goes to the
// queue's dead-letter exchange.
func TestDeadLetterOnReject(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	declareExchange(t, c, "dlx", "fanout")
	declareQueue(t, c, "dead", nil)
	bind(t, c, "dlx", "dead", "", nil)
	declareQueue(t, c, "live", map[string]any{"x-dead-letter-exchange": "dlx"})
	publish(t, c, "", "live", client.Message{Body: []byte("doomed"), Headers: map[string]any{"app": "e2e"}}, client.Confirmed)

	sub := subscribe(t, c, "live", client.ConsumeOptions{Prefetch: 1})
	ctx := testCtx(t, 20*time.Second)
	d := recv(t, sub, 5*time.Second)
	if err := d.Reject(ctx, client.RejectOptions{}); err != nil {
		t.Fatal(err)
	}
	var dead *client.Delivery
	eventually(t, 10*time.Second, "dead letter arrives", func() error {
		got, ok, err := c.Get(ctx, "dead", client.GetOptions{AutoAck: true})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("queue dead is empty")
		}
		dead = got
		return nil
	})
	if string(dead.Body) != "doomed" || dead.Headers["app"] != "e2e" {
		t.Fatalf("dead letter %q headers %v", dead.Body, dead.Headers)
	}
	if r := dead.Headers["x-first-death-reason"]; r != "rejected" {
		t.Errorf("x-first-death-reason %v, want rejected", r)
	}
	if r := dead.Headers["x-first-death-queue"]; r != "live" {
		t.Errorf("x-first-death-queue %v, want live", r)
	}
	waitCounts(t, c, "live", 0, 0)
	expectNone(t, sub, 200*time.Millisecond, nil)
}
