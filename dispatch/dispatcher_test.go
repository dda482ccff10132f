package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// recorder is a Proposer that records commands in order; a unit-test fake
// standing in for the Raft group.
type recorder struct {
	mu   sync.Mutex
	cmds []proto.Message
	seen chan struct{}
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 100)} }

func (r *recorder) Propose(_ context.Context, cmd proto.Message) (*fsm.Result, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
	r.seen <- struct{}{}
	return &fsm.Result{}, nil
}

func (r *recorder) waitFor(t *testing.T, n int) []proto.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		if len(r.cmds) >= n {
			out := append([]proto.Message(nil), r.cmds...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("waited for %d commands", n)
		}
	}
}

func deliveries(key Key, tags ...uint64) []fsm.Delivery {
	var out []fsm.Delivery
	for _, tg := range tags {
		out = append(out, fsm.Delivery{Queue: key.Queue, Session: key.Session, ConsumerTag: key.Tag, Tag: tg})
	}
	return out
}

func TestDeliveriesReachTheirConsumerInOrder(t *testing.T) {
	d := New(newRecorder(), nil)
	defer d.Stop(ErrStopped)
	a, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "a"}, false)
	b, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "b"}, false)
	d.Deliver(append(deliveries(a.Key(), 1, 2), deliveries(b.Key(), 1)...))
	d.Deliver(deliveries(Key{Queue: 1, Session: "gone", Tag: "x"}, 1)) // no stream: dropped
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range []uint64{1, 2} {
		got, err := a.Next(ctx)
		if err != nil || got.Tag != want {
			t.Fatalf("a got %v %v, want tag %d", got.Tag, err, want)
		}
	}
	if got, err := b.Next(ctx); err != nil || got.Tag != 1 {
		t.Fatalf("b got %v %v", got.Tag, err)
	}
}

func TestSettleValidatesTagsAndBatches(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 7, Session: "s", Tag: "c"}, false)
	d.Deliver(deliveries(c.Key(), 1, 2, 3, 4, 5))
	if _, err := c.Settle(Ack, 99, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("unknown tag: %v", err)
	}
	done, err := c.Settle(Ack, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Settle(Ack, 2, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("second ack of tag 2: %v, want ErrUnknownTag", err)
	}
	if _, err := c.Settle(Return, 5, false); err != nil {
		t.Fatal(err)
	}
	cmds := rec.waitFor(t, 2)
	settle, ok := cmds[0].(*fsmpb.Settle)
	if !ok || len(settle.Items) != 1 || len(settle.Items[0].Tags) != 3 {
		t.Fatalf("first command %v, want one Settle of tags 1..3", cmds[0])
	}
	if ret, ok := cmds[1].(*fsmpb.Return); !ok || ret.Items[0].Tags[0] != 5 {
		t.Fatalf("second command %v, want Return of tag 5", cmds[1])
	}
	if c.Unacked() != 1 {
		t.Fatalf("unacked %d, want 1 (tag 4)", c.Unacked())
	}
}

func TestCloseCancelsAfterEarlierAcks(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false)
	d.Deliver(deliveries(c.Key(), 1, 2))
	if _, err := c.Settle(Ack, 1, false); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cmds := rec.waitFor(t, 2)
	last := cmds[len(cmds)-1]
	if _, ok := last.(*fsmpb.Cancel); !ok {
		t.Fatalf("last command %T, want Cancel after the ack", last)
	}
	if _, ok := cmds[0].(*fsmpb.Settle); !ok {
		t.Fatalf("first command %T, want the Settle", cmds[0])
	}
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrConsumerClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestCloseWaitReturnsOnceCancelled: CloseWait returns after the Cancel
// was proposed and answered, behind the consumer's earlier ack; a second
// close, or one after Stop, does not wait.
func TestCloseWaitReturnsOnceCancelled(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false)
	d.Deliver(deliveries(c.Key(), 1))
	if _, err := c.Settle(Ack, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWait(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	cmds := append([]proto.Message(nil), rec.cmds...)
	rec.mu.Unlock()
	if len(cmds) != 2 {
		t.Fatalf("commands proposed before CloseWait returned: %v, want the Settle and the Cancel", cmds)
	}
	if _, ok := cmds[1].(*fsmpb.Cancel); !ok {
		t.Fatalf("last command %T, want the Cancel", cmds[1])
	}
	if err := c.CloseWait(context.Background()); err != nil {
		t.Fatalf("second CloseWait: %v", err)
	}
	c2, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c2"}, false)
	d.Stop(ErrStopped)
	if err := c2.CloseWait(context.Background()); err != nil {
		t.Fatalf("CloseWait of a consumer Stop closed: %v", err)
	}
}

func TestAutoAckReleasesCreditOnSend(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "auto"}, true)
	d.Deliver(deliveries(c.Key(), 1))
	if _, err := c.Settle(Ack, 1, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("client ack on auto-ack consumer: %v", err)
	}
	c.Sent(1)
	cmds := rec.waitFor(t, 1)
	if s, ok := cmds[0].(*fsmpb.Settle); !ok || s.Items[0].Tags[0] != 1 {
		t.Fatalf("got %v, want Settle of tag 1", cmds[0])
	}
}

func TestStopEndsConsumersWithTheReason(t *testing.T) {
	d := New(newRecorder(), nil)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false)
	reason := errors.New("leadership moved")
	d.Stop(reason)
	if _, err := c.Next(context.Background()); !errors.Is(err, reason) {
		t.Fatalf("Next after Stop: %v, want the stop reason", err)
	}
	if _, err := d.Register(Key{Queue: 1, Session: "s", Tag: "d"}, false); !errors.Is(err, reason) {
		t.Fatalf("Register after Stop: %v", err)
	}
}

func TestGetSettleNeedsAnOutstandingTag(t *testing.T) {
	d := New(newRecorder(), nil)
	defer d.Stop(ErrStopped)
	d.TrackGet(fsm.Delivery{Queue: 3, Session: "s", Tag: 1})
	if _, err := d.SettleGet(3, "other", Ack, 1, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("other session's tag: %v", err)
	}
	done, err := d.SettleGet(3, "s", Ack, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRetainGetsForgetsReturnedGets(t *testing.T) {
	d := New(newRecorder(), nil)
	defer d.Stop(ErrStopped)
	d.TrackGet(fsm.Delivery{Queue: 3, Session: "s", Tag: 1})
	d.TrackGet(fsm.Delivery{Queue: 3, Session: "s", Tag: 2})
	d.RetainGets(func(_ Key, tag uint64) bool { return tag == 2 })
	if _, err := d.SettleGet(3, "s", Ack, 1, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("ack of a forgotten get: %v, want ErrUnknownTag", err)
	}
	if _, err := d.SettleGet(3, "s", Ack, 2, false); err != nil {
		t.Fatalf("ack of a retained get: %v", err)
	}
}

func TestSessionDownAfterStopDoesNotWait(t *testing.T) {
	d := New(newRecorder(), nil)
	reason := errors.New("shutting down")
	d.Stop(reason)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.SessionDown(ctx, []string{"s"}); !errors.Is(err, reason) {
		t.Fatalf("SessionDown after Stop: %v, want the stop reason at once", err)
	}
}

func TestEndSessionsEndsTheirStreams(t *testing.T) {
	d := New(newRecorder(), nil)
	defer d.Stop(ErrStopped)
	gone, _ := d.Register(Key{Queue: 1, Session: "s1", Tag: "a"}, false)
	kept, _ := d.Register(Key{Queue: 1, Session: "s2", Tag: "b"}, false)
	d.EndSessions([]string{"s1"})
	if _, err := gone.Next(context.Background()); !errors.Is(err, ErrSessionEnded) || !errors.Is(err, ErrConsumerClosed) {
		t.Fatalf("consumer of an ended session: %v, want ErrSessionEnded", err)
	}
	if d.Attached("s1") || !d.Attached("s2") {
		t.Fatalf("attached after EndSessions: s1=%t s2=%t, want false true", d.Attached("s1"), d.Attached("s2"))
	}
	d.Deliver(deliveries(kept.Key(), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := kept.Next(ctx); err != nil || got.Tag != 1 {
		t.Fatalf("other session's consumer: %v %v", got.Tag, err)
	}
}
