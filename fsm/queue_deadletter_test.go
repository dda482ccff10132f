package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestDeadLetterToDefaultExchange: dead-letter-exchange "" given as an
// argument is the default exchange; no argument is no dead-lettering (and a
// spec from before the field, "" unset, keeps meaning none).
func TestDeadLetterToDefaultExchange(t *testing.T) {
	spec, err := QueueSpecFromArgs(1, "src", map[string]*fsmpb.Value{
		"x-dead-letter-exchange": str(""), "x-dead-letter-routing-key": str("dlq"), "x-max-length": num(1),
	})
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
	})
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
	if _, err := QueueSpecFromArgs(3, "bad", map[string]*fsmpb.Value{"overflow": str("reject-publish-dlxx")}); err == nil {
		t.Fatal("an unknown overflow was accepted")
	}
}
