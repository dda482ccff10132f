package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestDeadLetterToDefaultExchange: dead-letter-exchange "" given as an
// argument is the default exchange; no argument is no dead-lettering (and a
// spec from before the field, "" unset, keeps meaning none).
func TestDeadLetterToDefaultExchange(t *testing.T) {
	spec, err := QueueSpecFromArgs(1, "src", map[string]*fsmpb.Value{
		"x-dead-letter-exchange": str(""), "x-dead-letter-routing-key": str("dlq"), "x-max-length": num(1),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.GetDeadLetterExchangeSet() {
		t.Fatal("dead_letter_exchange_set not set")
	}
	r := newQueueRunner(t)
	r.ok(enqueue1(1, spec, "a"))
	res := r.ok(enqueue1(2, spec, "b")) // drop-head: a goes
	wantStrings(t, "dead letters", dlstrs(res.DeadLetters), []string{"maxlen:/dlq:a"})

	plain := qspec(2, "plain", withMaxLen(1))
	r.ok(enqueue1(3, plain, "a"))
	if res := r.ok(enqueue1(4, plain, "b")); len(res.DeadLetters) != 0 {
		t.Fatalf("a queue with no dead-letter exchange dead-lettered %v", dlstrs(res.DeadLetters))
	}
}

// TestRejectPublishDLX: a full queue with overflow reject-publish-dlx
// rejects the publish and dead-letters the message; the state is as with
// reject-publish (the message never entered).
func TestRejectPublishDLX(t *testing.T) {
	spec, err := QueueSpecFromArgs(1, "full", map[string]*fsmpb.Value{
		"x-overflow": str("reject-publish-dlx"), "x-max-length": num(1), "x-dead-letter-exchange": str("dlx"),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if spec.GetOverflow() != fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH_DLX {
		t.Fatalf("overflow %v", spec.GetOverflow())
	}
	r := newQueueRunner(t)
	r.ok(enqueue1(1, spec, "a"))
	res := r.ok(enqueue1(2, spec, "b"))
	if len(res.Enqueued) != 1 || res.Enqueued[0].Status != EnqueueRejected {
		t.Fatalf("outcomes %+v, want rejected", res.Enqueued)
	}
	wantStrings(t, "dead letters", dlstrs(res.DeadLetters), []string{"maxlen:dlx/rk.b:b"})
	wantStrings(t, "ready", readyBodies(r.g, 1), []string{"a"})

	// Without a dead-letter exchange it is plain reject-publish.
	noDLX := qspec(2, "nodlx", withMaxLen(1), func(s *fsmpb.QueueSpec) { s.Overflow = fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH_DLX })
	r.ok(enqueue1(3, noDLX, "a"))
	if res := r.ok(enqueue1(4, noDLX, "b")); res.Enqueued[0].Status != EnqueueRejected || len(res.DeadLetters) != 0 {
		t.Fatalf("no dead-letter exchange: %+v, %v", res.Enqueued, dlstrs(res.DeadLetters))
	}
	if _, err := QueueSpecFromArgs(3, "bad", map[string]*fsmpb.Value{"overflow": str("reject-publish-dlxx")}, 0); err == nil {
		t.Fatal("an unknown overflow was accepted")
	}
}

// TestAtLeastOnceOutbox: a queue with the at-least-once strategy keeps its
// dead letters in the group's outbox until SettleDeadLetters; they count
// toward its max-length (reject-publish), survive a snapshot, and go with
// the queue.
func TestAtLeastOnceOutbox(t *testing.T) {
	spec := qspec(1, "alo", withMaxLen(2), withReject(), withDLX("dlx", ""), func(s *fsmpb.QueueSpec) {
		s.DeadLetterStrategy = fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE
	})
	r := newQueueRunner(t)
	r.ok(enqueue1(1, spec, "a", "b"))
	r.ok(checkout(spec, "s1", "c1", 0, false))
	res := r.ok(discard(ctags(1, "s1", "c1", 1)))
	if len(res.DeadLetters) != 1 || res.DeadLetters[0].OutboxID != 1 {
		t.Fatalf("dead letters %+v, want one with outbox id 1", res.DeadLetters)
	}
	// Nothing ready (b is checked out) and one in the outbox: room for one
	// more, not two.
	if res := r.ok(enqueue1(2, spec, "c", "d")); res.Enqueued[0].Status != EnqueueOK || res.Enqueued[1].Status != EnqueueRejected {
		t.Fatalf("enqueue past max-length with an outbox entry: %+v", res.Enqueued)
	}
	if got := r.g.Outbox(); len(got) != 1 || string(got[0].Payload.GetBody()) != "a" || got[0].Reason != "rejected" || got[0].Exchange != "dlx" {
		t.Fatalf("outbox %+v", got)
	}

	// Snapshot and restore keep the outbox and the next id.
	var buf bytes.Buffer
	if err := r.g.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	g2, err := RestoreQueueGroup(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := g2.Outbox(); len(got) != 1 || got[0].OutboxID != 1 || got[0].Queue != "alo" {
		t.Fatalf("restored outbox %+v", got)
	}
	var buf2 bytes.Buffer
	if err := g2.WriteSnapshot(&buf2); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatalf("snapshot → restore → snapshot differs (%v)", err)
	}

	res = r.ok(&fsmpb.SettleDeadLetters{Ids: []uint64{1, 99}})
	if res.Count != 1 || r.g.OutboxLen() != 0 {
		t.Fatalf("settle: count %d, outbox %d", res.Count, r.g.OutboxLen())
	}
	if res := r.ok(enqueue1(3, spec, "e")); res.Enqueued[0].Status != EnqueueOK {
		t.Fatalf("room after the settle: %+v", res.Enqueued)
	}

	// An at-most-once queue never uses the outbox.
	amo := qspec(2, "amo", withDLX("dlx", ""))
	r.ok(enqueue1(4, amo, "x"))
	r.ok(checkout(amo, "s1", "c1", 0, false))
	if res := r.ok(discard(ctags(2, "s1", "c1", 1))); len(res.DeadLetters) != 1 || res.DeadLetters[0].OutboxID != 0 {
		t.Fatalf("at-most-once dead letter %+v", res.DeadLetters)
	}

	// Dropping the queue drops its outbox entries.
	r.ok(discard(ctags(1, "s1", "c1", 2)))
	if r.g.OutboxLen() != 1 {
		t.Fatalf("outbox %d, want 1", r.g.OutboxLen())
	}
	r.ok(&fsmpb.DropQueue{Queue: 1})
	if r.g.OutboxLen() != 0 {
		t.Fatal("a dropped queue's dead letters stayed in the outbox")
	}
	if err := checkOutbox(r.g); err != nil {
		t.Fatal(err)
	}
	if res := r.apply(&fsmpb.SettleDeadLetters{Ids: make([]uint64, MaxSettleDeadLetters+1)}); !errors.Is(res.Err, ErrInvalid) {
		t.Fatalf("too many ids: %v", res.Err)
	}
}

// TestDeclareAtLeastOnce: the strategy comes from DeclareQueue's field, not
// from the argument (an older entry with the argument keeps its meaning),
// and survives a meta snapshot.
func TestDeclareAtLeastOnce(t *testing.T) {
	l := newMetaLog(t, 1)
	args := map[string]*fsmpb.Value{"x-dead-letter-strategy": str("at-least-once"), "x-dead-letter-exchange": str("dlx"), "x-overflow": str("reject-publish")}
	l.must(&fsmpb.DeclareQueue{Name: "old", Arguments: args})
	l.must(&fsmpb.DeclareQueue{Name: "new", Arguments: args, DeadLetterStrategy: fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE})
	check := func(m *Meta) {
		t.Helper()
		if q, _ := m.Queue("", "old"); q.Spec.GetDeadLetterStrategy() != fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_MOST_ONCE {
			t.Fatal("an entry without the field became at-least-once")
		}
		if q, _ := m.Queue("", "new"); q.Spec.GetDeadLetterStrategy() != fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE {
			t.Fatal("the field was lost")
		}
	}
	check(l.m)
	var buf bytes.Buffer
	if err := l.m.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := RestoreMeta(bytes.NewReader(buf.Bytes()), 1)
	if err != nil {
		t.Fatal(err)
	}
	check(r)
}
