package fsm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func delayed(now int64, msgs ...*fsmpb.DelayedMessage) *fsmpb.DelayMessages {
	return &fsmpb.DelayMessages{NowMs: now, Messages: msgs}
}

func dmsg(body string, delay int64) *fsmpb.DelayedMessage {
	return &fsmpb.DelayedMessage{Payload: &fsmpb.Payload{Exchange: "dx", RoutingKey: "k", Body: []byte(body)}, DelayMs: delay}
}

// TestDelayedMessages: each waits in the index until a Tick at or after
// its due time moves it to the outbox, in due order (ties by arrival);
// NextDeadline and NextDelayDue name the head; the index and the outbox
// survive a snapshot.
func TestDelayedMessages(t *testing.T) {
	r := newQueueRunner(t)
	r.ok(delayed(1000, dmsg("late", 500), dmsg("early", 100), dmsg("tie", 100)))
	if r.g.NextDelayDue() != 1100 || r.g.NextDeadline() != 1100 {
		t.Fatalf("next due %d, deadline %d, want 1100", r.g.NextDelayDue(), r.g.NextDeadline())
	}
	if res := r.ok(tick(1099)); res.Outboxed != 0 {
		t.Fatal("released before due")
	}
	res := r.ok(tick(1100))
	if res.Outboxed != 2 {
		t.Fatalf("released %d, want 2", res.Outboxed)
	}
	out := r.g.Outbox()
	if len(out) != 2 || string(out[0].Payload.GetBody()) != "early" || string(out[1].Payload.GetBody()) != "tie" || !out[0].Delayed || out[0].Exchange != "dx" {
		t.Fatalf("outbox %+v", out)
	}
	var buf bytes.Buffer
	if err := r.g.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	g2, err := RestoreQueueGroup(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	if err := g2.WriteSnapshot(&buf2); err != nil || !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatalf("snapshot round trip differs (%v)", err)
	}
	if g2.NextDelayDue() != 1500 || g2.OutboxLen() != 2 || g2.DelayedLen() != 1 {
		t.Fatalf("restored: next %d, outbox %d, delayed %d", g2.NextDelayDue(), g2.OutboxLen(), g2.DelayedLen())
	}
	res = r.ok(&fsmpb.SettleDeadLetters{Ids: []uint64{out[0].OutboxID, out[1].OutboxID}})
	if res.Count != 2 || r.g.OutboxLen() != 0 {
		t.Fatalf("settle: %d, outbox %d", res.Count, r.g.OutboxLen())
	}
	// A Tick with no time uses the machine's clock; one behind it too.
	if res := r.ok(tick(1200)); res.Outboxed != 0 {
		t.Fatal("released early")
	}
	if res := r.ok(tick(2000)); res.Outboxed != 1 || r.g.DelayedLen() != 0 {
		t.Fatalf("late release: %d", res.Outboxed)
	}
	if res := r.apply(delayed(0, &fsmpb.DelayedMessage{DelayMs: 5})); res.Err == nil {
		t.Fatal("a delayed message without a payload was accepted")
	}
}

// TestDelayedMessagesDeduplicated: a delayed message sent again with its
// producer's sequence (a resend after a leader that did not answer) is
// stored once, across a snapshot too; so is one whose sequence an Enqueue
// of the group already took. Without a producer or a sequence every copy
// is stored, and a producer id that is no valid text refuses the command.
func TestDelayedMessagesDeduplicated(t *testing.T) {
	withSeq := func(body, producer string, seq uint64) *fsmpb.DelayedMessage {
		m := dmsg(body, 100)
		m.ProducerId, m.Sequence = producer, seq
		return m
	}
	r := newQueueRunner(t)
	r.ok(delayed(1000, withSeq("a", "p", 1), withSeq("a", "p", 1), withSeq("b", "p", 2)))
	if n := r.g.DelayedLen(); n != 2 {
		t.Fatalf("%d delayed after a copy in one command, want 2", n)
	}
	r.ok(delayed(1000, withSeq("b", "p", 2), withSeq("c", "q", 2)))
	if n := r.g.DelayedLen(); n != 3 {
		t.Fatalf("%d delayed after a resend, want 3", n)
	}
	r.ok(enqueue(1000, []*fsmpb.QueueSpec{qspec(1, "q")}, emsgP("e", "p", 3, 0)))
	r.ok(delayed(1000, withSeq("e", "p", 3)))
	if n := r.g.DelayedLen(); n != 3 {
		t.Fatalf("%d delayed after the sequence of an enqueued message, want 3", n)
	}
	g2, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	g2.Apply(100, delayed(1000, withSeq("a", "p", 1)))
	if n := g2.DelayedLen(); n != 3 {
		t.Fatalf("restored: %d delayed after a resend, want 3", n)
	}
	r.ok(delayed(1000, withSeq("x", "", 7), withSeq("x", "", 7), withSeq("y", "p", 0), withSeq("y", "p", 0)))
	if n := r.g.DelayedLen(); n != 7 {
		t.Fatalf("%d delayed after copies with no producer or sequence, want 7", n)
	}
	if res := r.apply(delayed(1000, withSeq("z", strings.Repeat("p", MaxSessionIDBytes+1), 9))); res.Err == nil {
		t.Fatal("a producer id over its limit was accepted")
	}
}
