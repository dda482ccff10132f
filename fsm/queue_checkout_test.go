package fsm

import (
	"testing"
)

func TestCheckout(t *testing.T) {
	jobs := qspec(1, "jobs")
	stats := func(want QueueStats) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			got, ok := g.QueueStats(1)
			if !ok || got != want {
				t.Fatalf("stats %+v (%t), want %+v", got, ok, want)
			}
		}
	}
	unacked := func(want ...int) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			cs := g.Consumers()
			if len(cs) != len(want) {
				t.Fatalf("consumers %+v, want %d", cs, len(want))
			}
			for i, c := range cs {
				if c.Unacked != want[i] {
					t.Fatalf("consumer %s/%s unacked %d, want %d", c.Session, c.Tag, c.Unacked, want[i])
				}
			}
		}
	}
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"two unlimited consumers alternate strictly", []qstep{
			{cmd: checkout(jobs, "a", "c", 0, false)},
			{cmd: checkout(jobs, "b", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3", "m4", "m5"),
				deliv: []string{"a/c#1:m1", "b/c#1:m2", "a/c#2:m3", "b/c#2:m4", "a/c#3:m5"}},
			{cmd: enqueue1(0, jobs, "m6"), deliv: []string{"b/c#3:m6"}},
		}},
		{"fair dispatch with prefetch 1 skips the busy consumer", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: checkout(jobs, "b", "c", 1, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1", "b/c#1:m2"},
				check: stats(QueueStats{Ready: 1, ReadyBytes: 2, Unacked: 2, Consumers: 2})},
			{cmd: settle(ctags(1, "a", "c", 1)), deliv: []string{"a/c#2:m3"}},
			{cmd: enqueue1(0, jobs, "m4")}, // both busy
			{cmd: settle(ctags(1, "b", "c", 1)), deliv: []string{"b/c#2:m4"}},
			{cmd: settle(ctags(1, "b", "c", 2))},
			// a is still busy with m3: b, though served last, gets m5.
			{cmd: enqueue1(0, jobs, "m5"), deliv: []string{"b/c#3:m5"}},
			// a regains its place at the front as soon as it has credit.
			{cmd: settle(ctags(1, "a", "c", 2), ctags(1, "b", "c", 3))},
			{cmd: enqueue1(0, jobs, "m6", "m7"), deliv: []string{"a/c#3:m6", "b/c#4:m7"}},
		}},
		{"prefetch 3 is never exceeded", []qstep{
			{cmd: checkout(jobs, "a", "c", 3, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3", "m4", "m5", "m6"),
				deliv: []string{"a/c#1:m1", "a/c#2:m2", "a/c#3:m3"}, check: unacked(3)},
			{cmd: enqueue1(0, jobs, "m7"), check: unacked(3)},
			{cmd: settle(ctags(1, "a", "c", 2, 3)), deliv: []string{"a/c#4:m4", "a/c#5:m5"}, check: unacked(3)},
			{cmd: settle(ctags(1, "a", "c", 1, 4, 5)), deliv: []string{"a/c#6:m6", "a/c#7:m7"}, check: unacked(2)},
		}},
		{"a new consumer joins the end of the service order", []qstep{
			{cmd: checkout(jobs, "a", "c", 0, false)},
			{cmd: checkout(jobs, "b", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: checkout(jobs, "c", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m2", "m3", "m4"), deliv: []string{"b/c#1:m2", "a/c#2:m3", "c/c#1:m4"}},
		}},
		{"a consumer joining a backlog takes it", []qstep{
			{cmd: enqueue1(0, jobs, "m1", "m2")},
			{cmd: checkout(jobs, "a", "c", 0, false), deliv: []string{"a/c#1:m1", "a/c#2:m2"}},
		}},
		{"re-attach with the same settings keeps the checked-out messages", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2"), deliv: []string{"a/c#1:m1"}},
			{cmd: checkout(jobs, "a", "c", 1, false), check: func(t *testing.T, _ *Result, g *QueueGroup) {
				wantStrings(t, "checked out", dstrs(g.CheckedOut("a")), []string{"a/c#1:m1"})
			}},
		}},
		{"re-attach with other settings is a precondition failure", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: checkout(jobs, "a", "c", 2, false), err: ErrPrecondition},
			{cmd: checkout(jobs, "a", "c", 1, true), err: ErrPrecondition, check: unacked(0)},
		}},
		{"invalid checkouts", []qstep{
			{cmd: checkout(jobs, "", "c", 1, false), err: ErrInvalid},
			{cmd: checkout(jobs, "a", "", 1, false), err: ErrInvalid},
			{cmd: checkout(qspec(0, "zero"), "a", "c", 1, false), err: ErrInvalid},
			{cmd: checkout(nil, "a", "c", 1, false), err: ErrInvalid, check: func(t *testing.T, _ *Result, g *QueueGroup) {
				if _, ok := g.QueueStats(1); ok || len(g.Sessions()) != 0 {
					t.Fatal("an invalid checkout changed the state")
				}
			}},
		}},
		{"auto-ack settles at assignment but the tag holds credit", []qstep{
			{cmd: checkout(jobs, "a", "c", 2, true)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1", "a/c#2:m2"},
				check: stats(QueueStats{Ready: 1, ReadyBytes: 2, Unacked: 0, Consumers: 1})},
			{cmd: settle(ctags(1, "a", "c", 1)), deliv: []string{"a/c#3:m3"},
				check: stats(QueueStats{Consumers: 1})},
			// The tag of an auto-ack delivery is re-sendable only as a tag.
			{cmd: settle(), check: func(t *testing.T, _ *Result, g *QueueGroup) {
				co := g.CheckedOut("a")
				if len(co) != 2 || co[0].Tag != 2 || co[0].Payload != nil || co[1].Tag != 3 {
					t.Fatalf("checked out %+v", co)
				}
			}},
			// Cancelling drops the tags: those messages are gone.
			{cmd: cancel(1, "a", "c"), check: func(t *testing.T, res *Result, g *QueueGroup) {
				if res.Count != 0 || len(g.Sessions()) != 0 {
					t.Fatalf("count %d, sessions %q", res.Count, g.Sessions())
				}
			}},
		}},
		{"cancel returns the checked-out messages to the front", []qstep{
			{cmd: checkout(jobs, "a", "c", 2, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1", "a/c#2:m2"}},
			{cmd: cancel(1, "a", "c"), check: func(t *testing.T, res *Result, g *QueueGroup) {
				if res.Count != 2 {
					t.Fatalf("count %d, want 2", res.Count)
				}
				wantStrings(t, "ready", readyBodies(g, 1), []string{"m1", "m2", "m3"})
			}},
			{cmd: checkout(jobs, "b", "c", 0, false), deliv: []string{"b/c#1:m1(r1)", "b/c#2:m2(r1)", "b/c#3:m3"}},
			{cmd: cancel(1, "nobody", "c")},
			{cmd: cancel(99, "b", "c")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}
