package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func TestEnqueue(t *testing.T) {
	jobs := qspec(1, "jobs")
	capped := qspec(2, "capped", withMaxLen(2), withDLX("dlx", ""))
	bytesCapped := qspec(3, "small", withMaxBytes(5))
	full := qspec(4, "full", withMaxLen(1), withReject())
	specs := []*fsmpb.QueueSpec{jobs, capped, bytesCapped, full}
	outcomes := func(want ...EnqueueOutcome) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, res *Result, _ *QueueGroup) {
			t.Helper()
			if len(res.Enqueued) != len(want) {
				t.Fatalf("outcomes %+v, want %+v", res.Enqueued, want)
			}
			for i := range want {
				if res.Enqueued[i] != want[i] {
					t.Fatalf("outcome %d: %+v, want %+v", i, res.Enqueued[i], want[i])
				}
			}
		}
	}
	ready := func(id uint64, want ...string) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			wantStrings(t, "ready", readyBodies(g, id), want)
		}
	}
	both := func(fs ...func(*testing.T, *Result, *QueueGroup)) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, res *Result, g *QueueGroup) {
			t.Helper()
			for _, f := range fs {
				f(t, res, g)
			}
		}
	}
	ok, dup := EnqueueOutcome{}, EnqueueOutcome{Status: EnqueueDuplicate}
	gone := EnqueueOutcome{Status: EnqueueNoQueue, Reason: "queue was deleted"}
	rejected := EnqueueOutcome{Status: EnqueueRejected, Reason: `queue "full" is full (max-length 1)`}

	tests := []struct {
		name  string
		steps []qstep
	}{
		{"one message to several queues, a queue named twice gets it once", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 0, 1, 0)), check: both(outcomes(ok), ready(1, "m1"), ready(2, "m1"),
				func(t *testing.T, _ *Result, g *QueueGroup) {
					if g.queues[1].main.At(0).env != g.queues[2].main.At(0).env {
						t.Fatal("the queues do not share the payload")
					}
				})},
		}},
		{"a retried (producer, sequence) is a duplicate", []qstep{
			{cmd: enqueue(0, specs, emsgP("m1", "p", 1, 0), emsgP("m1", "p", 1, 0)), check: outcomes(ok, dup)},
			{cmd: enqueue(0, specs, emsgP("m1", "p", 1, 0), emsgP("m2", "q", 1, 0)), check: both(outcomes(dup, ok), ready(1, "m1", "m2"))},
			// No producer or sequence 0: never deduplicated.
			{cmd: enqueue(0, specs, emsgP("m3", "", 1, 0), emsgP("m3", "", 1, 0), emsgP("m4", "p", 0, 0), emsgP("m4", "p", 0, 0)),
				check: both(outcomes(ok, ok, ok, ok), ready(1, "m1", "m2", "m3", "m3", "m4", "m4"))},
		}},
		{"out-of-order sequences within the window are accepted once each", []qstep{
			{cmd: enqueue(0, specs, emsgP("s5", "p", 5, 0), emsgP("s3", "p", 3, 0)), check: outcomes(ok, ok)},
			{cmd: enqueue(0, specs, emsgP("s4", "p", 4, 0), emsgP("s3", "p", 3, 0), emsgP("s5", "p", 5, 0), emsgP("s1", "p", 1, 0)),
				check: both(outcomes(ok, dup, dup, ok), ready(1, "s5", "s3", "s4", "s1"))},
		}},
		{"a sequence older than the window is a duplicate", []qstep{
			{cmd: enqueue(0, specs, emsgP("new", "p", 5000, 0))},
			{cmd: enqueue(0, specs, emsgP("old", "p", 5000-DedupWindow, 0), emsgP("edge", "p", 5001-DedupWindow, 0)),
				check: both(outcomes(dup, ok), ready(1, "new", "edge"))},
		}},
		{"max-length drop-head dead-letters the oldest", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 1), emsg("m2", 1), emsg("m3", 1)),
				dead: []string{"maxlen:dlx/rk.m1:m1"}, check: both(outcomes(ok, ok, ok), ready(2, "m2", "m3"))},
			{cmd: checkout(capped, "a", "c", 1, false), deliv: []string{"a/c#1:m2"}},
			{cmd: retrn(ctags(2, "a", "c", 1)), deliv: []string{"a/c#2:m2(r1)"}},
			// Checked-out messages do not count against the limit.
			{cmd: enqueue(0, specs, emsg("m4", 1)), check: ready(2, "m3", "m4")},
			// The returns list is the head: drop-head takes from it first.
			{cmd: cancel(2, "a", "c"), check: ready(2, "m2", "m3", "m4")},
			// (Returned messages may exceed the limit; the next publish trims.)
			{cmd: enqueue(0, specs, emsg("m5", 1)), dead: []string{"maxlen:dlx/rk.m2:m2", "maxlen:dlx/rk.m3:m3"},
				check: ready(2, "m4", "m5")},
		}},
		{"max-length-bytes drop-head, and a message too big for the queue", []qstep{
			{cmd: enqueue(0, specs, emsg("aa", 2), emsg("bb", 2), emsg("cc", 2)), check: ready(3, "bb", "cc")},
			{cmd: enqueue(0, specs, emsg("toolong", 2)), check: both(outcomes(ok), ready(3))},
		}},
		{"reject-publish refuses with a readable reason", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 3), emsg("m2", 3)), check: both(outcomes(ok, rejected), ready(4, "m1"))},
		}},
		{"the worst outcome wins: no-queue over rejected", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 3))},
			{cmd: &fsmpb.DropQueue{Queue: 1}},
			{cmd: enqueue(0, specs, emsg("m2", 3, 0, 1)), check: both(outcomes(gone), ready(2, "m2"), ready(4, "m1"))},
			{cmd: enqueue(0, specs, emsg("m3", 1, 3)), check: outcomes(rejected)},
		}},
		{"a dedup entry is recorded whatever the outcome", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 3))},
			{cmd: enqueue(0, specs, emsgP("m2", "p", 1, 3)), check: outcomes(rejected)},
			{cmd: enqueue(0, specs, emsgP("m2", "p", 1, 3)), check: outcomes(dup)},
		}},
		{"malformed enqueues change nothing", []qstep{
			{cmd: enqueue(0, specs, emsg("m1", 0), emsg("m2", 7)), err: ErrInvalid, check: ready(1)},
			{cmd: enqueue(0, specs, emsg("m1", 0), &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}}), err: ErrInvalid},
			{cmd: enqueue(0, []*fsmpb.QueueSpec{jobs, qspec(0, "zero")}, emsg("m1", 0)), err: ErrInvalid},
			{cmd: enqueue(0, []*fsmpb.QueueSpec{jobs, nil}, emsg("m1", 0)), err: ErrInvalid, check: ready(1)},
			{cmd: enqueue(0, nil), check: outcomes()},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

// A spec is fixed by the first command that carries it.
func TestEnqueueKeepsTheFirstSpec(t *testing.T) {
	r := newQueueRunner(t)
	r.ok(enqueue1(0, qspec(1, "jobs", withMaxLen(1), withReject()), "m1"))
	res := r.ok(enqueue1(0, qspec(1, "jobs"), "m2"))
	if res.Enqueued[0].Status != EnqueueRejected {
		t.Fatalf("outcome %+v: the second spec replaced the first", res.Enqueued[0])
	}
}
