package dispatch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
	a, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "a"}, false, 1)
	b, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "b"}, false, 1)
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
	c, _ := d.Register(Key{Queue: 7, Session: "s", Tag: "c"}, false, 1)
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
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
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
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
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
	c2, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c2"}, false, 1)
	d.Stop(ErrStopped)
	if err := c2.CloseWait(context.Background()); err != nil {
		t.Fatalf("CloseWait of a consumer Stop closed: %v", err)
	}
}

func TestAutoAckReleasesCreditOnSend(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "auto"}, true, 1)
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
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
	reason := errors.New("leadership moved")
	d.Stop(reason)
	if _, err := c.Next(context.Background()); !errors.Is(err, reason) {
		t.Fatalf("Next after Stop: %v, want the stop reason", err)
	}
	if _, err := d.Register(Key{Queue: 1, Session: "s", Tag: "d"}, false, 1); !errors.Is(err, reason) {
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
	gone, _ := d.Register(Key{Queue: 1, Session: "s1", Tag: "a"}, false, 1)
	kept, _ := d.Register(Key{Queue: 1, Session: "s2", Tag: "b"}, false, 1)
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

// checkSessionIndex compares the session indexes with a recomputation from
// the consumers and gets they index.
func checkSessionIndex(t *testing.T, d *Dispatcher, step string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for what, ix := range map[string]struct {
		index sessionKeys
		keys  []Key
	}{
		"consumers": {d.consumersOf, keysOf(d.consumers)},
		"gets":      {d.getsOf, keysOf(d.gets)},
	} {
		want := sessionKeys{}
		for _, k := range ix.keys {
			want.add(k)
		}
		if !reflect.DeepEqual(ix.index, want) {
			t.Fatalf("%s: %s index %v, recomputed %v", step, what, ix.index, want)
		}
	}
}

func keysOf[V any](m map[Key]V) []Key {
	out := make([]Key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The session indexes follow every change of consumers and gets, so that
// ending a session touches only its own.
func TestSessionIndexFollowsConsumersAndGets(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	a1, _ := d.Register(Key{Queue: 1, Session: "a", Tag: "1"}, false, 1)
	d.Register(Key{Queue: 2, Session: "a", Tag: "2"}, false, 1)
	b1, _ := d.Register(Key{Queue: 1, Session: "b", Tag: "1"}, false, 1)
	d.Register(Key{Queue: 1, Session: "c", Tag: "1"}, false, 1)
	d.TrackGet(fsm.Delivery{Queue: 1, Session: "a", Tag: 1})
	d.TrackGet(fsm.Delivery{Queue: 2, Session: "b", Tag: 1})
	d.TrackGet(fsm.Delivery{Queue: 2, Session: "b", Tag: 2})
	checkSessionIndex(t, d, "registered")

	a1.Close()
	checkSessionIndex(t, d, "a/1 closed")
	if !d.Attached("a") {
		t.Fatal("a still has a consumer on queue 2")
	}
	d.EndConsumer(b1.Key())
	checkSessionIndex(t, d, "b/1 ended")
	if d.Attached("b") {
		t.Fatal("b has no consumer left")
	}
	if _, err := d.SettleGet(2, "b", Ack, 1, false); err != nil {
		t.Fatal(err)
	}
	checkSessionIndex(t, d, "get settled")
	d.RetainGets(func(k Key, _ uint64) bool { return k.Session != "b" })
	checkSessionIndex(t, d, "b's gets forgotten")

	d.EndSessions([]string{"a", "nobody"})
	checkSessionIndex(t, d, "a ended")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.SessionDown(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	checkSessionIndex(t, d, "a down")
	if d.Attached("a") || !d.Attached("c") {
		t.Fatalf("attached a=%t c=%t, want false true", d.Attached("a"), d.Attached("c"))
	}
	if _, err := d.SettleGet(1, "a", Ack, 1, false); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("a get of a session that went down: %v, want ErrUnknownTag", err)
	}
}

// gatedRecorder is a recorder whose first proposal waits for release, so
// that a test can queue work behind it.
type gatedRecorder struct {
	*recorder
	once    sync.Once
	release chan struct{}
	// entered, when not nil, is closed once the first proposal waits.
	entered chan struct{}
}

func (g *gatedRecorder) Propose(ctx context.Context, cmd proto.Message) (*fsm.Result, error) {
	g.once.Do(func() {
		if g.entered != nil {
			close(g.entered)
		}
		<-g.release
	})
	return g.recorder.Propose(ctx, cmd)
}

// SessionDowns that wait for the same flush go out as one command, and a
// down of more than sessionsPerDown sessions in several: a wave of ended
// sessions is a few Raft entries, not one per session in a row.
func TestSessionDownsShareCommands(t *testing.T) {
	g := &gatedRecorder{recorder: newRecorder(), release: make(chan struct{}), entered: make(chan struct{})}
	d := New(g, nil)
	defer d.Stop(ErrStopped)
	released := false
	defer func() { // a failed check must not leave the flusher (and Stop) blocked
		if !released {
			close(g.release)
		}
	}()
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
	d.Deliver(deliveries(c.Key(), 1))
	if _, err := c.Settle(Ack, 1, false); err != nil { // the flusher blocks on it
		t.Fatal(err)
	}
	// The downs must queue behind that proposal, not join its flush.
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the flusher did not propose the settle")
	}
	many := make([]string, sessionsPerDown+500)
	for i := range many {
		many[i] = fmt.Sprintf("m%d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, sessions := range [][]string{{"a"}, {"b", "c"}, many, {"d"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.SessionDown(ctx, sessions)
		}()
	}
	// The four downs are queued before the flusher goes on.
	waitQueued := time.Now().Add(5 * time.Second)
	for {
		d.mu.Lock()
		n := len(d.pend.downs)
		d.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(waitQueued) {
			t.Fatalf("%d downs queued, want 4", n)
		}
		time.Sleep(time.Millisecond) // paces the poll
	}
	close(g.release)
	released = true
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmds := g.waitFor(t, 3)
	var sizes []int
	total := 0
	for _, cmd := range cmds[1:] {
		sd, ok := cmd.(*fsmpb.SessionDown)
		if !ok {
			t.Fatalf("command %T after the settle, want SessionDown", cmd)
		}
		sizes = append(sizes, len(sd.Sessions))
		total += len(sd.Sessions)
	}
	if len(sizes) != 2 || sizes[0] != sessionsPerDown || total != 4+len(many) {
		t.Fatalf("SessionDown sizes %v, want %d then the rest of %d", sizes, sessionsPerDown, 4+len(many))
	}
}

// flaky is a recorder whose first failures proposals fail as Raft fails
// them when this node cannot commit for now (a refused leadership
// transfer, a commit that timed out); a unit-test fake.
type flaky struct {
	recorder
	failures int
	failed   []proto.Message
}

func (f *flaky) Propose(ctx context.Context, cmd proto.Message) (*fsm.Result, error) {
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.failed = append(f.failed, cmd)
		f.mu.Unlock()
		return nil, errors.New("raft group q0: not the leader, no leader known")
	}
	f.mu.Unlock()
	return f.recorder.Propose(ctx, cmd)
}

// waitFailed waits until n proposals have failed.
func (f *flaky) waitFailed(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		failed := len(f.failed)
		f.mu.Unlock()
		if failed >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d proposals failed, want %d", failed, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAckNotCommittedIsTriedAgain: an ack whose Settle was not committed
// while the dispatcher still serves is proposed again until it commits,
// ahead of the Cancel queued after it and together with the acks that
// came meanwhile; its waiter hears the final outcome. Dropped, it would
// leave the messages checked out to a live consumer whose credit is then
// used up: a queue stuck for good (issue 14's chaos hang).
func TestAckNotCommittedIsTriedAgain(t *testing.T) {
	f := &flaky{recorder: *newRecorder(), failures: 3}
	d := New(f, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
	d.Deliver(deliveries(c.Key(), 1, 2, 3))
	first, err := c.Settle(Ack, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	// Tag 2 is acked while tag 1 is being retried, then the stream ends.
	f.waitFailed(t, 1)
	second, err := c.Settle(Ack, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i, done := range []<-chan error{first, second} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ack %d: %v, want committed", i+1, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ack %d never answered", i+1)
		}
	}
	cmds := f.waitFor(t, 2)
	var acked []uint64
	for _, cmd := range cmds[:len(cmds)-1] {
		s, ok := cmd.(*fsmpb.Settle)
		if !ok {
			t.Fatalf("committed %T before the Cancel, want only Settles", cmd)
		}
		for _, it := range s.GetItems() {
			acked = append(acked, it.GetTags()...)
		}
	}
	if !reflect.DeepEqual(acked, []uint64{1, 2}) {
		t.Fatalf("committed acks %v, want [1 2]", acked)
	}
	if _, ok := cmds[len(cmds)-1].(*fsmpb.Cancel); !ok {
		t.Fatalf("last command %T, want the Cancel after the acks", cmds[len(cmds)-1])
	}
	if len(f.failed) != 3 {
		t.Fatalf("%d failed proposals, want 3", len(f.failed))
	}
}

// TestAckRetriedUntilStop: a Settle that never commits is answered with
// the stop error when the dispatcher stops (leadership lost: the next
// leader returns what is still checked out).
func TestAckRetriedUntilStop(t *testing.T) {
	f := &flaky{recorder: *newRecorder(), failures: 1 << 30}
	d := New(f, nil)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 1)
	d.Deliver(deliveries(c.Key(), 1))
	done, err := c.Settle(Ack, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	f.waitFailed(t, 2) // tried again
	stop := errors.New("leadership lost")
	d.Stop(stop)
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Fatalf("ack: %v, want the stop error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ack never answered after Stop")
	}
}

// withLinger sets settleLinger to d for the test.
func withLinger(t *testing.T, d time.Duration) {
	old := settleLinger
	settleLinger = d
	t.Cleanup(func() { settleLinger = old })
}

// TestAcksWithCreditToSpareLinger: the acks of a consumer with more than
// half its prefetch free are not proposed at once but wait up to
// settleLinger, so that acks arriving meanwhile share one Settle; an ack
// that leaves a consumer short of credit flushes them all at once.
func TestAcksWithCreditToSpareLinger(t *testing.T) {
	withLinger(t, 50*time.Millisecond)
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 8)
	d.Deliver(deliveries(c.Key(), 1, 2, 3, 4, 5, 6))
	// Ack 1..4 (multiple): 2 delivered + 4 pending = 6 held of 8: short
	// of credit, flushed at once.
	if _, err := c.Settle(Ack, 4, true); err != nil {
		t.Fatal(err)
	}
	cmds := rec.waitFor(t, 1)
	if s, ok := cmds[0].(*fsmpb.Settle); !ok || len(s.Items[0].Tags) != 4 {
		t.Fatalf("first command %v, want a Settle of tags 1..4", cmds[0])
	}
	// Now 2 held (tags 5, 6): an ack of 5 leaves 1 delivered + 1 pending,
	// a quarter of the prefetch: it lingers, and the ack of 6 joins it.
	if _, err := c.Settle(Ack, 5, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Settle(Ack, 6, false); err != nil {
		t.Fatal(err)
	}
	cmds = rec.waitFor(t, 2)
	waited := time.Since(start)
	if s, ok := cmds[1].(*fsmpb.Settle); !ok || len(s.Items[0].Tags) != 2 {
		t.Fatalf("second command %v, want one Settle of tags 5 and 6", cmds[1])
	}
	if waited < settleLinger/2 {
		t.Fatalf("the lingering acks were proposed after %v, want about %v", waited, settleLinger)
	}
}

// oneAckLingering returns a consumer with prefetch 100, delivered tags 1
// and 2, whose ack of 1 lingers for a minute (so a test that sees it
// proposed sees it flushed), and the recorder of its dispatcher.
func oneAckLingering(t *testing.T) (*recorder, *Consumer) {
	t.Helper()
	withLinger(t, time.Minute)
	rec := newRecorder()
	d := New(rec, nil)
	t.Cleanup(func() { d.Stop(ErrStopped) })
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 100)
	d.Deliver(deliveries(c.Key(), 1, 2))
	if _, err := c.Settle(Ack, 1, false); err != nil {
		t.Fatal(err)
	}
	return rec, c
}

// TestCloseFlushesLingeringAcks: a consumer's Close proposes its
// lingering acks at once, before its Cancel.
func TestCloseFlushesLingeringAcks(t *testing.T) {
	rec, c := oneAckLingering(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.CloseWait(ctx); err != nil {
		t.Fatal(err)
	}
	wantLingeringAckThen[*fsmpb.Cancel](t, rec)
}

// TestGetSettleDoesNotLinger: a get's Settle is a call waiting for its
// commit; it is proposed at once.
func TestGetSettleDoesNotLinger(t *testing.T) {
	withLinger(t, time.Minute) // what lingered would come too late
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	d.TrackGet(fsm.Delivery{Queue: 1, Session: "s", Tag: 9})
	done, err := d.SettleGet(1, "s", Ack, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a get's Settle waited")
	}
}

// TestNackDoesNotLinger: a nack with requeue (Return) is proposed at once,
// with the acks lingering before it, so the message is back in the queue
// for the next Get; only acks linger.
func TestNackDoesNotLinger(t *testing.T) {
	rec, c := oneAckLingering(t)
	if _, err := c.Settle(Return, 2, false); err != nil {
		t.Fatal(err)
	}
	wantLingeringAckThen[*fsmpb.Return](t, rec)
}

// wantLingeringAckThen waits for two commands: the lingering ack's Settle
// (oneAckLingering), then a T.
func wantLingeringAckThen[T proto.Message](t *testing.T, rec *recorder) {
	t.Helper()
	cmds := rec.waitFor(t, 2)
	if _, ok := cmds[0].(*fsmpb.Settle); !ok {
		t.Fatalf("first command %T, want the lingering ack's Settle", cmds[0])
	}
	if _, ok := cmds[1].(T); !ok {
		var want T
		t.Fatalf("second command %T, want a %T", cmds[1], want)
	}
}

// TakeReady takes the deliveries buffered, in order, without waiting, as
// many as it may and fits accepts, and stops at a state change, which
// NextEvent hands over on its own.
func TestTakeReadyStopsAtStateChanges(t *testing.T) {
	d := New(newRecorder(), nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "c"}, false, 10)
	all := func(fsm.Delivery) bool { return true }
	tags := func(ds []fsm.Delivery) []uint64 {
		var out []uint64
		for _, d := range ds {
			out = append(out, d.Tag)
		}
		return out
	}
	if got := c.TakeReady(10, all); len(got) != 0 {
		t.Fatalf("TakeReady took %v from an empty buffer", tags(got))
	}
	d.Deliver(deliveries(c.Key(), 1, 2, 3, 4))
	d.ActiveChanged([]fsm.ActiveChange{{Queue: 1, Session: "s", Tag: "c", Active: false}})
	d.Deliver(deliveries(c.Key(), 5))
	if got := c.TakeReady(1, all); !slices.Equal(tags(got), []uint64{1}) {
		t.Fatalf("TakeReady(1) = %v, want [1]", tags(got))
	}
	if got := c.TakeReady(10, func(d fsm.Delivery) bool { return d.Tag < 3 }); !slices.Equal(tags(got), []uint64{2}) {
		t.Fatalf("TakeReady of tags under 3 = %v, want [2]", tags(got))
	}
	if got := c.TakeReady(10, all); !slices.Equal(tags(got), []uint64{3, 4}) {
		t.Fatalf("TakeReady = %v, want [3 4] and no tag past the state change", tags(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e, err := c.NextEvent(ctx); err != nil || !e.State || e.Active {
		t.Fatalf("NextEvent = %+v %v, want the state change", e, err)
	}
	if got := c.TakeReady(10, all); !slices.Equal(tags(got), []uint64{5}) {
		t.Fatalf("TakeReady = %v after the state change, want [5]", tags(got))
	}
	d.Deliver(deliveries(c.Key(), 6))
	c.Close()
	if got := c.TakeReady(10, all); len(got) != 0 {
		t.Fatalf("TakeReady took %v from a closed consumer", tags(got))
	}
}

// An auto-ack consumer's deliveries sent together are acked in one
// settlement; tags not outstanding are left out.
func TestAutoAckSentTogether(t *testing.T) {
	rec := newRecorder()
	d := New(rec, nil)
	defer d.Stop(ErrStopped)
	c, _ := d.Register(Key{Queue: 1, Session: "s", Tag: "auto"}, true, 3)
	d.Deliver(deliveries(c.Key(), 1, 2, 3))
	c.Sent(1, 2, 3, 9)
	cmds := rec.waitFor(t, 1)
	s, ok := cmds[0].(*fsmpb.Settle)
	if !ok || len(s.Items) != 1 || !slices.Equal(s.Items[0].Tags, []uint64{1, 2, 3}) {
		t.Fatalf("got %v, want one Settle of tags 1, 2, 3", cmds[0])
	}
}
