package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func TestDropAndPurge(t *testing.T) {
	jobs := qspec(1, "jobs")
	drop := func(id uint64) *fsmpb.DropQueue { return &fsmpb.DropQueue{Queue: id} }
	purge := func(id uint64) *fsmpb.Purge { return &fsmpb.Purge{Queue: id} }
	count := func(want uint64) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, res *Result, _ *QueueGroup) {
			t.Helper()
			if res.Count != want {
				t.Fatalf("count %d, want %d", res.Count, want)
			}
		}
	}
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"a dropped queue is gone for ever", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2"), deliv: []string{"a/c#1:m1"}},
			{cmd: drop(1), check: func(t *testing.T, res *Result, g *QueueGroup) {
				if res.Count != 2 || len(g.Sessions()) != 0 || len(g.Consumers()) != 0 {
					t.Fatalf("count %d, sessions %q", res.Count, g.Sessions())
				}
				if _, ok := g.QueueStats(1); ok {
					t.Fatal("stats of a dropped queue")
				}
			}},
			{cmd: enqueue1(0, jobs, "m3"), check: func(t *testing.T, res *Result, g *QueueGroup) {
				want := EnqueueOutcome{Status: EnqueueNoQueue, Reason: "queue was deleted"}
				if res.Enqueued[0] != want {
					t.Fatalf("outcome %+v", res.Enqueued[0])
				}
			}},
			{cmd: checkout(jobs, "a", "c", 1, false), err: ErrNotFound},
			{cmd: purge(1), err: ErrNotFound},
			{cmd: settle(ctags(1, "a", "c", 1))},
			{cmd: cancel(1, "a", "c")},
			{cmd: drop(1)},
		}},
		{"dropping an id never seen tombstones it", []qstep{
			{cmd: drop(7)},
			{cmd: checkout(qspec(7, "late"), "a", "c", 0, false), err: ErrNotFound},
			{cmd: drop(0), err: ErrInvalid},
		}},
		{"purge removes ready messages only", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1"}},
			{cmd: retrn(ctags(1, "a", "c", 1)), deliv: []string{"a/c#2:m1(r1)"}},
			{cmd: purge(1), check: count(2)},
			{cmd: purge(1), check: count(0)},
			{cmd: purge(2), err: ErrNotFound},
			{cmd: settle(ctags(1, "a", "c", 2)), check: func(t *testing.T, _ *Result, g *QueueGroup) {
				if s, _ := g.QueueStats(1); s != (QueueStats{Consumers: 1}) {
					t.Fatalf("stats %+v", s)
				}
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}
