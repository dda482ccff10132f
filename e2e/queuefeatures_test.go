package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// waitEnded waits for sub to end and checks its error's code and text.
func waitEnded(t testing.TB, sub *client.Subscription, code codes.Code, text string) {
	t.Helper()
	select {
	case <-sub.Done():
	case <-time.After(scaled(10 * time.Second)):
		t.Fatalf("subscription on %q still open", sub.Queue())
	}
	err := sub.Err()
	if status.Code(err) != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("subscription on %q ended with %v, want %v containing %q", sub.Queue(), err, code, text)
	}
}

// TestConsumerCancelledWhenQueueDeleted (issue 12 item 6): deleting a
// queue ends every consume stream on it with NOT_FOUND saying why, as
// RabbitMQ's basic.cancel; so does deleting its vhost. The SDK's
// Subscribe and Consume see it, and the CLI consumer exits with a line
// saying so.
func TestConsumerCancelledWhenQueueDeleted(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)

	declareQueue(t, c, "doomed", nil)
	sub1 := subscribe(t, c, "doomed", client.ConsumeOptions{Prefetch: 1})
	sub2 := subscribe(t, c, "doomed", client.ConsumeOptions{})
	consumeErr := make(chan error, 1)
	go func() {
		consumeErr <- c.Consume(ctx, "doomed", func(context.Context, *client.Delivery) error { return nil }, client.ConsumeOptions{})
	}()
	waitConsumers(t, c, "doomed", 3)
	cli := startCLI(t, "--server", n.Addr, "consume", "doomed")
	waitConsumers(t, c, "doomed", 4)

	if _, err := c.DeleteQueue(ctx, "doomed", client.DeleteQueueOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, sub1, codes.NotFound, "queue deleted")
	waitEnded(t, sub2, codes.NotFound, "queue deleted")
	select {
	case err := <-consumeErr:
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "queue deleted") {
			t.Fatalf("Consume returned %v, want NotFound queue deleted", err)
		}
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("Consume did not return after the queue was deleted")
	}
	select {
	case <-cli.exited:
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("warren consume still running after the queue was deleted")
	}
	if code := cli.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(cli.errOut.String(), "queue deleted") {
		t.Fatalf("warren consume exited %d, stderr %q; want 1 and a line saying the queue was deleted", code, cli.errOut.String())
	}

	// A re-created queue of the same name is a new queue: consumers of
	// it get its messages.
	declareQueue(t, c, "doomed", nil)
	sub3 := subscribe(t, c, "doomed", client.ConsumeOptions{})
	publish(t, c, "", "doomed", client.Message{Body: []byte("new")}, client.Confirmed)
	if d := recv(t, sub3, 10*time.Second); string(d.Body) != "new" {
		t.Fatalf("got %q", d.Body)
	}

	// Deleting a vhost ends the streams of its queues' consumers too.
	if err := c.AddVHost(ctx, "tmp"); err != nil {
		t.Fatal(err)
	}
	v := newClient(t, n.Addr, client.WithVHost("tmp"))
	declareQueue(t, v, "q", nil)
	sub4 := subscribe(t, v, "q", client.ConsumeOptions{})
	if err := c.DeleteVHost(ctx, "tmp"); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, sub4, codes.NotFound, "virtual host deleted")
}

// waitGone waits (up to d, scaled) until queue is not listed any more and
// returns when it saw it gone.
func waitGone(t testing.TB, c *client.Client, queue string, d time.Duration) time.Time {
	t.Helper()
	ctx := testCtx(t, d+10*time.Second)
	eventually(t, d, "queue "+queue+" deleted", func() error {
		qs, err := c.ListQueues(ctx)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Name == queue {
				return errors.New("still listed")
			}
		}
		return nil
	})
	return time.Now()
}

// TestQueueExpires (issue 12 item 1): a queue with x-expires is deleted
// once unused that long — no consumer, no get, no re-declaration — and
// not before; a consumer keeps it however long, and its idle time starts
// when the last consumer goes.
func TestQueueExpires(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)

	start := time.Now()
	declareQueue(t, c, "idle", map[string]any{"x-expires": int64(1000)})
	publish(t, c, "", "idle", client.Message{Body: []byte("left")}, client.Confirmed) // a publish is no use
	if gone := waitGone(t, c, "idle", 10*time.Second); gone.Sub(start) < time.Second {
		t.Fatalf("queue with x-expires=1000 deleted after %v", gone.Sub(start))
	}

	// A re-declaration and a get restart the idle time.
	start = time.Now()
	declareQueue(t, c, "reused", map[string]any{"x-expires": int64(1500)})
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond) // the duration is the point: uses more often than x-expires
		if time.Now().Add(-700 * time.Millisecond).Before(start) {
			continue
		}
		if _, _, err := c.Get(ctx, "reused", client.GetOptions{AutoAck: true}); err != nil {
			t.Fatalf("get of a queue used every 500 ms (x-expires 1500): %v", err)
		}
		declareQueue(t, c, "reused", map[string]any{"x-expires": int64(1500)})
	}
	lastUse := time.Now()
	if gone := waitGone(t, c, "reused", 10*time.Second); gone.Sub(lastUse) < 1500*time.Millisecond {
		t.Fatalf("deleted %v after its last use, x-expires 1500 ms", gone.Sub(lastUse))
	}

	// A consumer keeps it; its idle time starts when the consumer goes.
	declareQueue(t, c, "held", map[string]any{"x-expires": int64(500)})
	sub := subscribe(t, c, "held", client.ConsumeOptions{})
	time.Sleep(1500 * time.Millisecond) // the duration is the point: three times x-expires
	if _, err := queueInfo(ctx, c, "held"); err != nil {
		t.Fatalf("queue with a consumer expired: %v", err)
	}
	_ = sub.Close()
	closed := time.Now()
	if gone := waitGone(t, c, "held", 10*time.Second); gone.Sub(closed) < 500*time.Millisecond {
		t.Fatalf("deleted %v after its consumer went, x-expires 500 ms", gone.Sub(closed))
	}

	// Invalid values are refused.
	_, err := c.DeclareQueue(ctx, "bad", client.QueueOptions{Args: map[string]any{"x-expires": int64(0)}})
	wantCode(t, "x-expires=0", err, codes.InvalidArgument)
}

// TestSingleActiveConsumer (issue 12 item 2): on a queue with
// x-single-active-consumer only the first consumer gets messages; the
// SDK and the listing show which is active; when it goes, the next in
// registration order takes over and gets the messages it left unacked
// first, redelivered.
func TestSingleActiveConsumer(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "sac", map[string]any{"x-single-active-consumer": true})
	a := subscribe(t, c, "sac", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "A"})
	b := subscribe(t, c, "sac", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "B"})
	if !a.Active() || b.Active() {
		t.Fatalf("active: A %t, B %t; want A only", a.Active(), b.Active())
	}
	if q, err := queueInfo(ctx, c, "sac"); err != nil || q.ActiveConsumer != "A" {
		t.Fatalf("listing: active consumer %q (%v), want A", q.ActiveConsumer, err)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		publish(t, c, "", "sac", client.Message{Body: []byte(m)}, client.Confirmed)
	}
	var got []*client.Delivery
	for range 3 {
		got = append(got, recv(t, a, 10*time.Second))
	}
	if string(got[0].Body) != "m1" || string(got[2].Body) != "m3" {
		t.Fatalf("A got %q, %q, %q", got[0].Body, got[1].Body, got[2].Body)
	}
	if err := got[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, "sac", 0, 2)
	expectNone(t, b, 300*time.Millisecond, nil)

	// A goes with m2 and m3 unacked: B takes over and gets them first.
	_ = a.Close()
	publish(t, c, "", "sac", client.Message{Body: []byte("m4")}, client.Confirmed)
	for i, want := range []string{"m2", "m3", "m4"} {
		d := recv(t, b, 10*time.Second)
		if string(d.Body) != want || d.Redelivered != (i < 2) {
			t.Fatalf("B's delivery %d: %q redelivered=%t, want %q redelivered=%t", i, d.Body, d.Redelivered, want, i < 2)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "B active", func() error {
		if !b.Active() {
			return errors.New("B not active")
		}
		return nil
	})
	if q, err := queueInfo(ctx, c, "sac"); err != nil || q.ActiveConsumer != "B" {
		t.Fatalf("listing: active consumer %q (%v), want B", q.ActiveConsumer, err)
	}
	_, err := c.DeclareQueue(ctx, "bad", client.QueueOptions{Args: map[string]any{"x-single-active-consumer": "yes"}})
	wantCode(t, "x-single-active-consumer=yes", err, codes.InvalidArgument)
}

// TestPriorities (issue 12 item 3): a queue with x-max-priority delivers
// higher priorities first, FIFO within one; consumers of a higher
// x-priority get messages while they have credit.
func TestPriorities(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "prio", map[string]any{"x-max-priority": int64(10)})
	for _, m := range []struct {
		body string
		prio uint8
	}{{"low1", 0}, {"mid1", 5}, {"high", 9}, {"mid2", 5}, {"over", 200}, {"low2", 0}} {
		publish(t, c, "", "prio", client.Message{Body: []byte(m.body), Priority: m.prio}, client.Confirmed)
	}
	// The CLI's publish --priority too.
	if _, errOut, code := runCLI(t, "--server", n.Addr, "publish", "", "prio", "cli9", "--priority", "9"); code != 0 {
		t.Fatalf("warren publish --priority 9: %d %s", code, errOut)
	}
	var got []string
	for range 7 {
		d, _, err := c.Get(ctx, "prio", client.GetOptions{AutoAck: true})
		if err != nil || d == nil {
			t.Fatalf("get: %v %v", d, err)
		}
		got = append(got, string(d.Body))
	}
	if want := "over high cli9 mid1 mid2 low1 low2"; strings.Join(got, " ") != want {
		t.Fatalf("order %q, want %q", strings.Join(got, " "), want)
	}
	_, err := c.DeclareQueue(ctx, "bad", client.QueueOptions{Args: map[string]any{"x-max-priority": int64(256)}})
	wantCode(t, "x-max-priority=256", err, codes.InvalidArgument)

	// Consumer priorities.
	declareQueue(t, c, "jobs", nil)
	low := subscribe(t, c, "jobs", client.ConsumeOptions{Prefetch: 10, ConsumerTag: "low"})
	high := subscribe(t, c, "jobs", client.ConsumeOptions{Prefetch: 1, ConsumerTag: "high", Priority: 5})
	waitConsumers(t, c, "jobs", 2)
	publish(t, c, "", "jobs", client.Message{Body: []byte("j1")}, client.Confirmed)
	publish(t, c, "", "jobs", client.Message{Body: []byte("j2")}, client.Confirmed)
	if d := recv(t, high, 10*time.Second); string(d.Body) != "j1" {
		t.Fatalf("high got %q, want j1", d.Body)
	}
	if d := recv(t, low, 10*time.Second); string(d.Body) != "j2" {
		t.Fatalf("low got %q, want j2 (high has no credit)", d.Body)
	}
}

// returnUntilGone gets the one message of queue and nacks it with requeue
// until a get finds the queue empty, at most limit+5 times, and returns how
// often it was delivered.
func returnUntilGone(t *testing.T, c *client.Client, queue string, max int) int {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	for n := 0; n < max; n++ {
		d, _, err := c.Get(ctx, queue, client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			return n
		}
		if d.DeliveryCount != uint32(n) {
			t.Fatalf("delivery %d has delivery count %d", n, d.DeliveryCount)
		}
		if err := d.Nack(ctx, client.NackOptions{Requeue: true}); err != nil {
			t.Fatal(err)
		}
	}
	return max
}

// TestDefaultDeliveryLimit (issue 12 item 9): as RabbitMQ 4's quorum
// queues, a queue declared without x-delivery-limit drops (or
// dead-letters) a message returned more than 20 times; -1 is unlimited.
func TestDefaultDeliveryLimit(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	declareQueue(t, c, "limited", nil)
	publish(t, c, "", "limited", client.Message{Body: []byte("poison")}, client.Confirmed)
	if got := returnUntilGone(t, c, "limited", 30); got != 21 {
		t.Fatalf("delivered %d times, want 21 (the first and 20 redeliveries)", got)
	}
	declareQueue(t, c, "unlimited", map[string]any{"x-delivery-limit": int64(-1)})
	publish(t, c, "", "unlimited", client.Message{Body: []byte("poison")}, client.Confirmed)
	if got := returnUntilGone(t, c, "unlimited", 25); got != 25 {
		t.Fatalf("delivered %d times with x-delivery-limit -1, want 25 (still there)", got)
	}
}

// TestConsumerTimeout (issue 12 item 7): a delivery left unacked for the
// consumer timeout (the queue's x-consumer-timeout, or the consumer's own)
// ends that consumer's stream with FAILED_PRECONDITION saying so, not
// before, and its deliveries return to the queue, redelivered; a consumer
// that acks in time stays.
func TestConsumerTimeout(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "slow", map[string]any{"x-consumer-timeout": int64(1000)})
	stuck := subscribe(t, c, "slow", client.ConsumeOptions{Prefetch: 5, ConsumerTag: "stuck"})
	publish(t, c, "", "slow", client.Message{Body: []byte("m1")}, client.Confirmed)
	start := time.Now()
	recv(t, stuck, 10*time.Second)
	waitEnded(t, stuck, codes.FailedPrecondition, "consumer timeout: delivery tag 1 unacknowledged for 1s")
	if took := time.Since(start); took < time.Second {
		t.Fatalf("timed out after %v, timeout 1s", took)
	}
	got, _, err := c.Get(ctx, "slow", client.GetOptions{AutoAck: true})
	if err != nil || got == nil || string(got.Body) != "m1" || !got.Redelivered {
		t.Fatalf("after the timeout: %v %v, want m1 redelivered", got, err)
	}

	// The consumer's own timeout; acks in time keep it.
	declareQueue(t, c, "plain", nil)
	own := subscribe(t, c, "plain", client.ConsumeOptions{Prefetch: 1, Timeout: 800 * time.Millisecond})
	for i := range 3 {
		publish(t, c, "", "plain", client.Message{Body: []byte(fmt.Sprint(i))}, client.Confirmed)
		d := recv(t, own, 10*time.Second)
		time.Sleep(300 * time.Millisecond) // the duration is the point: work shorter than the timeout
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	if err := own.Err(); err != nil {
		t.Fatalf("consumer that acked in time ended: %v", err)
	}
	publish(t, c, "", "plain", client.Message{Body: []byte("late")}, client.Confirmed)
	recv(t, own, 10*time.Second)
	waitEnded(t, own, codes.FailedPrecondition, "unacknowledged for 800ms")

	// The CLI: a consumer that never acks (--requeue-on-exit) exits with
	// the reason.
	_, errOut, code := runCLI(t, "--server", n.Addr, "consume", "plain", "--requeue-on-exit", "--consumer-timeout", "500ms")
	if code != 1 || !strings.Contains(errOut, "consumer timeout: delivery tag 1 unacknowledged for 500ms") {
		t.Fatalf("warren consume --consumer-timeout 500ms: exit %d, stderr %q", code, errOut)
	}
	t.Logf("warren consume: %s", strings.TrimSpace(errOut))
}

// TestQueueRates (issue 12 item 12): the listing (API, SDK, CLI) shows
// publish, deliver and ack rates per second over the last 5 and 60
// seconds, as the leader of the queue's group counted them.
func TestQueueRates(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "rated", nil)
	start := time.Now()
	publishIDs(t, c, "rated", "r", 50)
	sub := subscribe(t, c, "rated", client.ConsumeOptions{Prefetch: 50})
	for range 50 {
		if err := recv(t, sub, 10*time.Second).Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var q client.QueueInfo
	eventually(t, 5*time.Second, "50 acks counted", func() error {
		var err error
		if q, err = queueInfo(ctx, c, "rated"); err != nil {
			return err
		}
		if q.Rates.Ack60s*60 < 49.5 {
			return fmt.Errorf("rates %+v", q.Rates)
		}
		return nil
	})
	r := q.Rates
	if !r.Known || r.Publish60s*60 < 49.5 || r.Publish60s*60 > 50.5 || r.Deliver60s*60 < 49.5 || r.Deliver60s*60 > 50.5 {
		t.Fatalf("60 s rates %+v, want 50 messages each", r)
	}
	if time.Since(start) < 4*time.Second && (r.Publish5s*5 < 49.5 || r.Ack5s*5 < 49.5) {
		t.Fatalf("5 s rates %+v, want 50 messages each within 5 s", r)
	}
	out, errOut, code := runCLI(t, "--server", n.Addr, "queue", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"rates":{"publish_5s":`) {
		t.Fatalf("warren queue list -o json: %d %s %s", code, out, errOut)
	}
	out, _, _ = runCLI(t, "--server", n.Addr, "queue", "list")
	if !strings.Contains(out, "PUBLISH/S(5s/60s)") || !strings.Contains(out, "/0.8") {
		t.Fatalf("warren queue list:\n%s", out)
	}
}
