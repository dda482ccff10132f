package e2e_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
)

// getOne waits for a message in queue and takes it (unacked unless
// autoAck).
func getOne(t *testing.T, c *client.Client, queue string, autoAck bool) *client.Delivery {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	var d *client.Delivery
	eventually(t, 15*time.Second, "a message in "+queue, func() error {
		got, ok, err := c.Get(ctx, queue, client.GetOptions{AutoAck: autoAck})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("queue %s is empty", queue)
		}
		d = got
		return nil
	})
	return d
}

// deaths is a delivery's x-death, as the SDK gives it.
func deaths(t *testing.T, d *client.Delivery) []map[string]any {
	t.Helper()
	list, ok := d.Headers["x-death"].([]any)
	if !ok {
		t.Fatalf("x-death is %T %v, want a list; headers %v", d.Headers["x-death"], d.Headers["x-death"], d.Headers)
	}
	var out []map[string]any
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("x-death entry %T", e)
		}
		out = append(out, m)
	}
	return out
}

// TestDeadLetteringDoneRight (issue 12 item 8): the default exchange as
// the dead-letter exchange, the x-death header and x-first/x-last-death-*,
// a fully automatic cycle dropped, a cycle with a rejection continuing
// with x-death counting per queue and reason, reject-publish-dlx, and
// at-least-once refused.
func TestDeadLetteringDoneRight(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)

	// Expired, to the default exchange, by the dead-letter routing key.
	declareQueue(t, c, "dl.target", nil)
	declareQueue(t, c, "dl.ttl", map[string]any{"x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl.target"})
	publish(t, c, "", "dl.ttl", client.Message{Body: []byte("expired"), Headers: map[string]any{"app": "e2e"}}, client.Confirmed)
	d := getOne(t, c, "dl.target", true)
	if string(d.Body) != "expired" || d.Headers["app"] != "e2e" {
		t.Fatalf("dead letter %q %v", d.Body, d.Headers)
	}
	ds := deaths(t, d)
	if len(ds) != 1 {
		t.Fatalf("x-death %v, want one entry", ds)
	}
	x := ds[0]
	keys, _ := x["routing-keys"].([]any)
	if x["count"] != int64(1) || x["reason"] != "expired" || x["queue"] != "dl.ttl" || x["exchange"] != "" || len(keys) != 1 || keys[0] != "dl.ttl" {
		t.Fatalf("x-death entry %v", x)
	}
	if tm, ok := x["time"].(int64); !ok || time.Since(time.Unix(tm, 0)) > time.Minute {
		t.Fatalf("x-death time %v", x["time"])
	}
	for h, want := range map[string]string{
		"x-first-death-reason": "expired", "x-first-death-queue": "dl.ttl", "x-first-death-exchange": "",
		"x-last-death-reason": "expired", "x-last-death-queue": "dl.ttl", "x-last-death-exchange": "",
	} {
		if d.Headers[h] != want {
			t.Errorf("%s = %v, want %q", h, d.Headers[h], want)
		}
	}

	// A queue dead-lettering expired messages to itself: a fully automatic
	// cycle; the message is dropped, not looped.
	declareQueue(t, c, "dl.loop", map[string]any{"x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl.loop"})
	publish(t, c, "", "dl.loop", client.Message{Body: []byte("loop")}, client.Confirmed)
	waitCounts(t, c, "dl.loop", 0, 0)
	// It stays empty: were it looping, it would be back within a TTL.
	var countErr error
	if err := poll(time.Second, func() error {
		cn, err := getCounts(ctx, c, "dl.loop")
		if err != nil {
			countErr = err
			return nil
		}
		if cn.Ready != 0 {
			return nil // a loop: the message came back
		}
		return errors.New("still empty")
	}); err == nil {
		t.Fatalf("a self dead-letter cycle looped (or counts failed: %v)", countErr)
	}

	// A cycle with a rejection: a → (rejected) → b → (expired) → a → …
	declareQueue(t, c, "dl.a", map[string]any{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl.b"})
	declareQueue(t, c, "dl.b", map[string]any{"x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl.a"})
	publish(t, c, "", "dl.a", client.Message{Body: []byte("cycle")}, client.Confirmed)
	for round := 1; round <= 2; round++ {
		d := getOne(t, c, "dl.a", false)
		if round > 1 {
			ds := deaths(t, d)
			if len(ds) != 2 || ds[0]["queue"] != "dl.b" || ds[0]["reason"] != "expired" || ds[1]["queue"] != "dl.a" || ds[1]["reason"] != "rejected" {
				t.Fatalf("round %d: x-death %v", round, ds)
			}
			if ds[0]["count"] != int64(round-1) || ds[1]["count"] != int64(round-1) {
				t.Fatalf("round %d: counts %v %v, want %d", round, ds[0]["count"], ds[1]["count"], round-1)
			}
			if d.Headers["x-first-death-reason"] != "rejected" || d.Headers["x-last-death-reason"] != "expired" || d.Headers["x-last-death-queue"] != "dl.b" {
				t.Fatalf("round %d: first/last death headers %v", round, d.Headers)
			}
		}
		if err := d.Reject(ctx, client.RejectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// reject-publish-dlx: the publish is rejected and the message
	// dead-lettered (reason maxlen).
	declareQueue(t, c, "dl.full", map[string]any{"x-max-length": 1, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl.target"})
	publish(t, c, "", "dl.full", client.Message{Body: []byte("fits")}, client.Confirmed)
	publish(t, c, "", "dl.full", client.Message{Body: []byte("over")}, client.Rejected)
	d = getOne(t, c, "dl.target", true)
	if string(d.Body) != "over" || d.Headers["x-first-death-reason"] != "maxlen" || d.Headers["x-first-death-queue"] != "dl.full" {
		t.Fatalf("reject-publish-dlx dead letter %q %v", d.Body, d.Headers)
	}
	if got := drainGets(t, c, "dl.full"); len(got) != 1 || got[0] != "fits" {
		t.Fatalf("dl.full holds %v", got)
	}

	// at-least-once is refused, saying so; at-most-once is the default.
	_, err := c.DeclareQueue(ctx, "dl.alo", client.QueueOptions{Args: map[string]any{"x-dead-letter-strategy": "at-least-once", "x-dead-letter-exchange": "x"}})
	wantCode(t, "x-dead-letter-strategy at-least-once", err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "at-least-once") {
		t.Fatalf("refusal does not say what: %v", err)
	}
	declareQueue(t, c, "dl.amo", map[string]any{"x-dead-letter-strategy": "at-most-once"})
}
