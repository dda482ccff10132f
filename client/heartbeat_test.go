package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSilentStreamEnds: a node that promised heartbeats and sends nothing
// (paused, cut off) ends the subscription with Unavailable — which Consume
// re-subscribes after — instead of leaving it to the keepalive.
func TestSilentStreamEnds(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithConsumeHeartbeat(100*time.Millisecond))
	sub, err := c.Subscribe(testCtx(t), "hushed", ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := recvWithin(t, fb.subscribes, "Subscribe").GetHeartbeatMs(); got != 100 {
		t.Errorf("asked for heartbeats every %d ms, want 100", got)
	}
	recvWithin(t, sub.Done(), "the silent subscription to end")
	err = sub.Err()
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "heard nothing") {
		t.Fatalf("Err() = %v, want Unavailable naming the silence", err)
	}
	if !c.resumable(sub, err) {
		t.Error("Consume would not re-subscribe after a silent stream")
	}
}

// TestHeartbeatsKeepIdleStreamAlive: an idle stream whose node sends
// heartbeats lives on past the silence limit.
func TestHeartbeatsKeepIdleStreamAlive(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithConsumeHeartbeat(100*time.Millisecond))
	sub, err := c.Subscribe(testCtx(t), "beating", ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Twice the silence limit's worth of heartbeats.
	deadline := time.Now().Add(waitTimeout)
	for fb.heartbeats.Load() < 2*ConsumeSilenceIntervals {
		select {
		case <-sub.Done():
			t.Fatalf("the stream ended after %d heartbeats: %v", fb.heartbeats.Load(), sub.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake sent too few heartbeats")
		}
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err() = %v on a stream with heartbeats", err)
	}
}

// TestHeartbeatsOff: WithConsumeHeartbeat(0) asks for none, so a node
// that sends none is not taken for silent; out-of-range intervals are
// refused.
func TestHeartbeatsOff(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithConsumeHeartbeat(0))
	sub, err := c.Subscribe(testCtx(t), "hushed", ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := recvWithin(t, fb.subscribes, "Subscribe").GetHeartbeatMs(); got != 0 {
		t.Errorf("asked for heartbeats every %d ms with them off", got)
	}
	if err := sub.Err(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Minute} {
		if _, err := New(testCtx(t), []string{"127.0.0.1:1"}, WithConsumeHeartbeat(d)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("WithConsumeHeartbeat(%v): %v, want ErrInvalidArgument", d, err)
		}
	}
}

// TestFirstRetryAtOnce: a call answered NOT_LEADER is retried at once,
// not after the backoff's first delay (here a minute).
func TestFirstRetryAtOnce(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb, WithReconnectBackoff(time.Minute, 2*time.Minute))
	fb.failWith("DeclareQueue", warrenUnavailable(t, "NOT_LEADER", nil))
	done := make(chan error, 1)
	go func() {
		_, err := c.DeclareQueue(testCtx(t), "q", QueueOptions{})
		done <- err
	}()
	if err := recvWithin(t, done, "the retried declaration (a minute of backoff would miss this)"); err != nil {
		t.Fatal(err)
	}
}
