package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func TestGet(t *testing.T) {
	jobs := qspec(1, "jobs", withDeliveryLimit(2), withDLX("dlx", ""))
	got := func(want string, count uint64) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, res *Result, _ *QueueGroup) {
			t.Helper()
			s := "<nil>"
			if res.Got != nil {
				s = dstr(*res.Got)
			}
			if s != want || res.Count != count {
				t.Fatalf("got %s, count %d; want %s, %d", s, res.Count, want, count)
			}
		}
	}
	deadline := func(want int64) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			if got := g.NextDeadline(); got != want {
				t.Fatalf("next deadline %d, want %d", got, want)
			}
		}
	}
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"auto-ack get removes the message", []qstep{
			{cmd: enqueue1(0, jobs, "m1", "m2")},
			{cmd: get(jobs, "a", true, 0, 0), check: got("a/#0:m1", 1)},
			{cmd: get(jobs, "a", true, 0, 0), check: got("a/#0:m2", 0)},
			{cmd: get(jobs, "a", true, 0, 0), check: got("<nil>", 0)},
		}},
		{"unacked gets hold per-session tags and a lease", []qstep{
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3")},
			{cmd: get(jobs, "a", false, 2000, 1000), check: got("a/#1:m1", 2)},
			{cmd: get(jobs, "b", false, 3000, 1000), check: got("b/#1:m2", 1)},
			{cmd: get(jobs, "a", false, 0, 1000), check: got("a/#2:m3", 0)},
			{cmd: tick(1999), check: deadline(2000)},
			{cmd: tick(2000), check: func(t *testing.T, _ *Result, g *QueueGroup) {
				wantStrings(t, "ready", readyBodies(g, 1), []string{"m1"})
				wantStrings(t, "a's", dstrs(g.CheckedOut("a")), []string{"a/#2:m3"})
				if g.NextDeadline() != 3000 {
					t.Fatalf("deadline %d", g.NextDeadline())
				}
			}},
			{cmd: get(jobs, "c", false, 5000, 2000), check: got("c/#1:m1(r1)", 0)},
			{cmd: tick(5000), check: deadline(0)},
			// A delivery count equal to the limit (2) is still delivered; over it, not.
			{cmd: get(jobs, "c", false, 6000, 5000), check: got("c/#2:m2(r1)", 1)},
			{cmd: tick(6000)},
			{cmd: get(jobs, "c", false, 7000, 6000), check: got("c/#3:m1(r2)", 1)},
			{cmd: tick(7000), dead: []string{"delivery_limit:dlx/rk.m1:m1"}},
		}},
		{"get skips expired heads", []qstep{
			{cmd: enqueue1(1000, qspec(2, "ttl", withTTL(10)), "old")},
			{cmd: enqueue1(2000, qspec(2, "ttl"), "new")},
			{cmd: get(qspec(2, "ttl"), "a", true, 0, 2000), check: got("a/#0:new", 0)},
		}},
		{"gets take no part in assignment", []qstep{
			{cmd: enqueue1(0, jobs, "m1", "m2")},
			{cmd: get(jobs, "a", false, 0, 0)},
			{cmd: checkout(jobs, "b", "c", 0, false), deliv: []string{"b/c#1:m2"}},
			{cmd: retrn(ctags(1, "a", "", 1)), deliv: []string{"b/c#2:m1(r1)"}},
		}},
		{"invalid and deleted", []qstep{
			{cmd: get(jobs, "", false, 0, 0), err: ErrInvalid},
			{cmd: get(nil, "a", false, 0, 0), err: ErrInvalid},
			{cmd: &fsmpb.DropQueue{Queue: 1}},
			{cmd: get(jobs, "a", false, 0, 0), err: ErrNotFound},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}
