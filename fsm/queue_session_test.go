package fsm

import (
	"slices"
	"testing"
)

func TestSessionDown(t *testing.T) {
	q1, q2 := qspec(1, "one"), qspec(2, "two")
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"returns everything of the session, on every queue", []qstep{
			{cmd: checkout(q1, "a", "y", 0, false)},
			{cmd: checkout(q1, "a", "x", 0, false)},
			{cmd: checkout(q2, "a", "x", 1, false)},
			{cmd: enqueue1(0, q1, "m1", "m2", "m3"), deliv: []string{"a/y#1:m1", "a/x#1:m2", "a/y#2:m3"}},
			{cmd: enqueue1(0, q2, "n1", "n2", "n3"), deliv: []string{"a/x#1:n1"}},
			{cmd: get(q2, "a", false, 0, 0)},
			{cmd: get(q2, "b", false, 0, 0)},
			{cmd: checkout(q1, "b", "z", 0, false), check: func(t *testing.T, _ *Result, g *QueueGroup) {
				wantStrings(t, "sessions", g.Sessions(), []string{"a", "b"})
				wantStrings(t, "a's deliveries", dstrs(g.CheckedOut("a")),
					[]string{"a/x#1:m2", "a/y#1:m1", "a/y#2:m3", "a/#1:n2", "a/x#1:n1"})
			}},
			// Queue 1: consumers x, y (by tag); queue 2: gets, then x.
			{cmd: sessionDown("a", "nobody", "a"), deliv: []string{"b/z#1:m2(r1)", "b/z#2:m1(r1)", "b/z#3:m3(r1)"},
				check: func(t *testing.T, res *Result, g *QueueGroup) {
					if res.Count != 5 {
						t.Fatalf("count %d, want 5", res.Count)
					}
					// Queue 2 lost its last consumer (its gets are no
					// consumers); queue 1 keeps b's. The name comes with
					// the id, so auto-delete looks up that queue alone.
					if want := []IdleQueue{{ID: 2, Name: "two"}}; !slices.Equal(res.IdleQueues, want) {
						t.Fatalf("idle queues %+v, want %+v", res.IdleQueues, want)
					}
					wantStrings(t, "sessions", g.Sessions(), []string{"b"})
					wantStrings(t, "a's deliveries", dstrs(g.CheckedOut("a")), []string{})
					wantStrings(t, "ready two", readyBodies(g, 2), []string{"n2", "n1"})
					wantStrings(t, "b's deliveries", dstrs(g.CheckedOut("b")),
						[]string{"b/z#1:m2(r1)", "b/z#2:m1(r1)", "b/z#3:m3(r1)", "b/#1:n3"})
					if cs := g.Consumers(); len(cs) != 1 || cs[0].Session != "b" {
						t.Fatalf("consumers %+v", cs)
					}
				}},
		}},
		{"an empty or unknown session list is a no-op", []qstep{
			{cmd: sessionDown()},
			{cmd: sessionDown("nobody", "x")},
		}},
		{"an empty session id is refused", []qstep{
			{cmd: sessionDown("x", ""), err: ErrInvalid},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

func TestConsumersSorted(t *testing.T) {
	r := newQueueRunner(t)
	r.ok(checkout(qspec(2, "b"), "s2", "t1", 0, false))
	r.ok(checkout(qspec(1, "a"), "s2", "t1", 3, true))
	r.ok(checkout(qspec(1, "a"), "s1", "t2", 1, false))
	r.ok(checkout(qspec(1, "a"), "s1", "t1", 0, false))
	want := []ConsumerInfo{
		{Queue: 1, Session: "s1", Tag: "t1"},
		{Queue: 1, Session: "s1", Tag: "t2", Prefetch: 1},
		{Queue: 1, Session: "s2", Tag: "t1", Prefetch: 3, AutoAck: true},
		{Queue: 2, Session: "s2", Tag: "t1"},
	}
	got := r.g.Consumers()
	if len(got) != len(want) {
		t.Fatalf("consumers %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("consumer %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
