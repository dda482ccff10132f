package client

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestFailoverTriesAddressesAfterTheFailedOne: connected to B of [A, B, C],
// the client fails over to C, the address after B, even though A is up
// again; the state callback sees the failover, serially.
func TestFailoverTriesAddressesAfterTheFailedOne(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrA := lis.Addr().String()
	_ = lis.Close()
	fbA, fbB, fbC := newFakeBroker(), newFakeBroker(), newFakeBroker()
	addrB, stopB := startStoppableFake(t, fbB)
	addrC, _ := startStoppableFake(t, fbC)
	var log stateLog
	c, err := New(testCtx(t), []string{addrA, addrB, addrC}, WithStateChange(log.record), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Addr() != addrB || c.State() != Connected {
		t.Fatalf("connected to %s (%v), want %s (A is down)", c.Addr(), c.State(), addrB)
	}
	startFakeAt(t, fbA, addrA)
	ctx := testCtx(t)
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	stopB()
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatalf("ListQueues after B stopped: %v", err)
	}
	if c.Addr() != addrC {
		t.Fatalf("failed over to %s, want %s (the address after B)", c.Addr(), addrC)
	}
	fbA.mu.Lock()
	calls := fbA.listCalls
	fbA.mu.Unlock()
	if calls != 0 {
		t.Fatalf("A answered %d calls, want 0", calls)
	}
	want := []State{Connecting, Connected, Reconnecting, Connected}
	waitUntil(t, "the state changes", func() bool { return slices.Equal(log.snapshot(), want) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := log.snapshot(); !slices.Equal(got, append(want, Closed)) {
		t.Fatalf("states %v, want %v", got, append(want, Closed))
	}
	if log.concurrent.Load() {
		t.Fatal("the state callback was called concurrently")
	}
}

// TestCallsWaitForReconnectWithinContext: while no address answers, calls
// wait for the reconnect and give up with their ctx.
func TestCallsWaitForReconnectWithinContext(t *testing.T) {
	fb := newFakeBroker()
	addr, stop := startStoppableFake(t, fb)
	var log stateLog
	c, err := New(testCtx(t), []string{addr}, WithStateChange(log.record), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	stop()
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	_, err = c.ListQueues(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.Unavailable {
		t.Fatalf("ListQueues = %v, want DeadlineExceeded wrapping Unavailable", err)
	}
	if c.State() != Reconnecting {
		t.Fatalf("state %v, want reconnecting", c.State())
	}
	f := c.PublishAsync(testCtx(t), "", "q", Message{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish waiting for a connection at Close: %v, want ErrClosed", err)
	}
	if c.State() != Closed {
		t.Fatalf("state %v after Close, want closed", c.State())
	}
}

// TestSubscriptionEndsOnConnectionLoss: a broken stream closes Deliveries,
// Err says Unavailable, and settling its deliveries fails with
// ErrSubscriptionEnded without sending anything.
func TestSubscriptionEndsOnConnectionLoss(t *testing.T) {
	fb := newFakeBroker()
	addr, stop := startStoppableFake(t, fb)
	c, err := New(testCtx(t), []string{addr}, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "q", ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	feedDelivery(t, fb, 1, "x")
	d := recvWithin(t, sub.Deliveries(), "delivery")
	stop()
	recvWithin(t, sub.Done(), "the subscription to end")
	if _, ok := <-sub.Deliveries(); ok {
		t.Fatal("deliveries channel still open")
	}
	if status.Code(sub.Err()) != codes.Unavailable {
		t.Fatalf("Err = %v, want Unavailable", sub.Err())
	}
	if err := d.Ack(ctx); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("Ack on the ended subscription = %v, want ErrSubscriptionEnded", err)
	}
	if d.Settled() {
		t.Fatal("delivery counted as settled though no ack was sent")
	}
}

// TestSessionReopensAfterFailover: the session stream is re-opened under
// the same id on the node the client failed over to, without a call that
// needs it.
func TestSessionReopensAfterFailover(t *testing.T) {
	fbA, fbB := newFakeBroker(), newFakeBroker()
	addrA, stopA := startStoppableFake(t, fbA)
	addrB, _ := startStoppableFake(t, fbB)
	c, err := New(testCtx(t), []string{addrA, addrB}, fastBackoff, WithSessionID("s-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, _, err := c.Get(testCtx(t), "q", GetOptions{}); err != nil {
		t.Fatal(err)
	}
	stopA()
	waitUntil(t, "the session on B", func() bool {
		fbB.mu.Lock()
		defer fbB.mu.Unlock()
		return slices.Equal(fbB.sessionIDs, []string{"s-1"})
	})
	if c.Addr() != addrB {
		t.Fatalf("connected to %s, want %s", c.Addr(), addrB)
	}
}

// TestPersistentNotLeaderMovesToAnotherNode: a node that keeps answering
// NOT_LEADER over a working connection (cut off from its cluster) is left
// once a call has got only that for hopAfter; a single NOT_LEADER is retried
// in place.
func TestPersistentNotLeaderMovesToAnotherNode(t *testing.T) {
	fbA, addrA, addrB, c := clientOfTwoFakes(t, 100*time.Millisecond)
	ctx := testCtx(t)
	fbA.failWith("ListQueues", notLeader(t))
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Addr() != addrA {
		t.Fatalf("moved to %s after one NOT_LEADER", c.Addr())
	}
	fbA.failWith("ListQueues", notLeaders(t, 1000)...)
	if _, err := c.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}
	fbA.mu.Lock()
	fbA.failNext["ListQueues"] = nil
	fbA.mu.Unlock()
	if c.Addr() != addrB {
		t.Fatalf("at %s, want %s", c.Addr(), addrB)
	}
}

// TestNotLeaderAcrossShortCallsMovesToAnotherNode: the time a node has
// answered only NOT_LEADER counts across calls, so calls whose deadlines
// are each shorter than hopAfter still leave a node cut off from its
// cluster.
func TestNotLeaderAcrossShortCallsMovesToAnotherNode(t *testing.T) {
	fbA, addrA, addrB, c := clientOfTwoFakes(t, 300*time.Millisecond)
	fbA.failWith("ListQueues", notLeaders(t, 10000)...)
	calls, explained := 0, 0
	for deadline := time.Now().Add(5 * time.Second); c.Addr() == addrA; calls++ {
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after %d calls of 50 ms", addrA, calls)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := c.ListQueues(ctx)
		cancel()
		if err == nil {
			break
		}
		// A call whose deadline ends during its first attempt has no
		// earlier failure to report; the others name it.
		if strings.Contains(err.Error(), "NOT_LEADER") {
			explained++
		}
	}
	if explained == 0 {
		t.Fatal("no failed call said why it failed (NOT_LEADER)")
	}
	if c.Addr() != addrB {
		t.Fatalf("at %s, want %s", c.Addr(), addrB)
	}
	if calls < 2 {
		t.Fatalf("moved after %d calls; want several calls of less than hopAfter", calls)
	}
}

// clientOfTwoFakes starts two fake brokers A and B and a client of [A, B]
// connected to A, with hopAfter set to hop for the test. It returns A, the
// two addresses and the client, which is closed at cleanup.
func clientOfTwoFakes(t *testing.T, hop time.Duration) (*fakeBroker, string, string, *Client) {
	t.Helper()
	old := hopAfter
	hopAfter = hop
	t.Cleanup(func() { hopAfter = old })
	fbA := newFakeBroker()
	addrA, _ := startStoppableFake(t, fbA)
	addrB, _ := startStoppableFake(t, newFakeBroker())
	c, err := New(testCtx(t), []string{addrA, addrB}, fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return fbA, addrA, addrB, c
}

// notLeaders is n NOT_LEADER answers.
func notLeaders(t *testing.T, n int) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = notLeader(t)
	}
	return errs
}
