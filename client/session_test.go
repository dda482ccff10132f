package client

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSessionOpensLazilyOnce(t *testing.T) {
	fb := newFakeBroker()
	fb.sessionEnd = make(chan struct{}, 4)
	c := newTestClient(t, fb)
	ctx := testCtx(t)

	if _, err := c.DeclareQueue(ctx, "plain", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	opened := len(fb.sessionIDs)
	fb.mu.Unlock()
	if opened != 0 {
		t.Fatalf("%d sessions opened by a plain declaration, want 0", opened)
	}
	if _, err := c.DeclareQueue(ctx, "", QueueOptions{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := c.Get(ctx, "q", GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fb.mu.Lock()
	ids := append([]string(nil), fb.sessionIDs...)
	excl := fb.queueReqs[1]
	get := fb.getReqs[0]
	fb.mu.Unlock()
	if len(ids) != 1 || ids[0] != c.SessionID() {
		t.Fatalf("session streams %v, want one named %q", ids, c.SessionID())
	}
	if excl.GetSessionId() != c.SessionID() || get.GetSessionId() != c.SessionID() {
		t.Fatalf("requests carry session ids %q and %q, want %q", excl.GetSessionId(), get.GetSessionId(), c.SessionID())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	recvWithin(t, fb.sessionEnd, "the session stream to end")
}

func TestSessionIDs(t *testing.T) {
	fb := newFakeBroker()
	a := newTestClient(t, fb)
	b := newTestClient(t, fb, WithSessionID("mine"))
	if len(a.SessionID()) != 32 {
		t.Errorf("session id %q: want 32 hex digits", a.SessionID())
	}
	if _, err := hex.DecodeString(a.SessionID()); err != nil {
		t.Errorf("session id %q: %v", a.SessionID(), err)
	}
	if b.SessionID() != "mine" {
		t.Errorf("session id %q, want mine", b.SessionID())
	}
	if a.PublisherID() == "" || a.PublisherID() == a.SessionID() {
		t.Errorf("publisher id %q: want random and distinct from the session id", a.PublisherID())
	}
	if _, err := New(testCtx(t), []string{"127.0.0.1:1"}, WithSessionID("")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("New with an empty session id: %v, want ErrInvalidArgument", err)
	}
}

func TestNewTriesAddressesInOrder(t *testing.T) {
	fb := newFakeBroker()
	good := startFake(t, fb)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	_ = lis.Close()
	c, err := New(testCtx(t), []string{dead, good})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Addr() != good {
		t.Fatalf("connected to %s, want %s", c.Addr(), good)
	}
}

func TestNewFailsWithUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	_ = lis.Close()
	_, err = New(testCtx(t), []string{dead, dead})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("New error = %v, want Unavailable", err)
	}
	if _, err := New(testCtx(t), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("New without addresses: %v, want ErrInvalidArgument", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(ctx, []string{dead}); !errors.Is(err, context.Canceled) {
		t.Fatalf("New with a cancelled ctx: %v, want context.Canceled", err)
	}
}

func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "q", GetOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Subscribe(ctx, "q", ConsumeOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if _, err := c.ListQueues(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ListQueues after Close: %v, want ErrClosed", err)
	}
}
