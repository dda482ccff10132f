package fsm

import "testing"

func TestSettleReturnDiscard(t *testing.T) {
	jobs := qspec(1, "jobs")
	limited := qspec(2, "limited", withDeliveryLimit(1), withDLX("dlx", ""))
	dlq := qspec(3, "dl", withDLX("dlx", "dead"))
	ready := func(id uint64, want ...string) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			wantStrings(t, "ready", readyBodies(g, id), want)
		}
	}
	stats := func(id uint64, want QueueStats) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			if got, _ := g.QueueStats(id); got != want {
				t.Fatalf("stats %+v, want %+v", got, want)
			}
		}
	}
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"settle removes the message", []qstep{
			{cmd: checkout(jobs, "a", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2"), deliv: []string{"a/c#1:m1", "a/c#2:m2"}},
			{cmd: settle(ctags(1, "a", "c", 2)), check: stats(1, QueueStats{Unacked: 1, Consumers: 1})},
			{cmd: settle(ctags(1, "a", "c", 1, 1)), check: stats(1, QueueStats{Consumers: 1})},
		}},
		{"returns are served first, in tag order, redelivered", []qstep{
			{cmd: checkout(jobs, "a", "c", 2, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3", "m4"), deliv: []string{"a/c#1:m1", "a/c#2:m2"}},
			{cmd: retrn(ctags(1, "a", "c", 2, 1)), deliv: []string{"a/c#3:m1(r1)", "a/c#4:m2(r1)"},
				check: ready(1, "m3", "m4")},
			{cmd: retrn(ctags(1, "a", "c", 4)), deliv: []string{"a/c#5:m2(r2)"}},
		}},
		{"returns wait in the returns list ahead of the main FIFO", []qstep{
			{cmd: checkout(jobs, "a", "c", 1, false)},
			{cmd: checkout(jobs, "b", "c", 1, false)},
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1", "b/c#1:m2"}},
			// a's return goes ahead of m3, and a itself (first in the
			// service order with credit) gets it back.
			{cmd: retrn(ctags(1, "a", "c", 1)), deliv: []string{"a/c#2:m1(r1)"}, check: ready(1, "m3")},
			{cmd: cancel(1, "b", "c"), check: ready(1, "m2", "m3")},
		}},
		{"delivery limit discards and dead-letters", []qstep{
			{cmd: checkout(limited, "a", "c", 1, false)},
			{cmd: enqueue1(0, limited, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: retrn(ctags(2, "a", "c", 1)), deliv: []string{"a/c#2:m1(r1)"}},
			{cmd: retrn(ctags(2, "a", "c", 2)), dead: []string{"delivery_limit:dlx/rk.m1:m1"},
				check: stats(2, QueueStats{Consumers: 1})},
		}},
		{"delivery limit applies to cancelled consumers too", []qstep{
			{cmd: checkout(limited, "a", "c", 1, false)},
			{cmd: enqueue1(0, limited, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: sessionDown("a")},
			{cmd: checkout(limited, "b", "c", 1, false), deliv: []string{"b/c#1:m1(r1)"}},
			{cmd: sessionDown("b"), dead: []string{"delivery_limit:dlx/rk.m1:m1"}, check: ready(2)},
		}},
		{"discard dead-letters with the queue's routing key", []qstep{
			{cmd: checkout(dlq, "a", "c", 0, false)},
			{cmd: enqueue1(0, dlq, "m1", "m2"), deliv: []string{"a/c#1:m1", "a/c#2:m2"}},
			{cmd: discard(ctags(3, "a", "c", 2, 1)), dead: []string{"rejected:dlx/dead:m1", "rejected:dlx/dead:m2"},
				check: stats(3, QueueStats{Consumers: 1})},
		}},
		{"discard without a dead-letter exchange drops", []qstep{
			{cmd: checkout(jobs, "a", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: discard(ctags(1, "a", "c", 1)), check: stats(1, QueueStats{Consumers: 1})},
		}},
		{"unknown queues, consumers and tags are ignored", []qstep{
			{cmd: checkout(jobs, "a", "c", 0, false)},
			{cmd: enqueue1(0, jobs, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: settle(ctags(1, "a", "c", 7), ctags(1, "a", "x", 1), ctags(1, "z", "c", 1), ctags(9, "a", "c", 1))},
			// An item without a session (nil, on the wire an empty item)
			// is malformed: the whole command is refused, m1 stays out.
			{cmd: settle(ctags(1, "a", "c", 1), nil), err: ErrInvalid, check: stats(1, QueueStats{Unacked: 1, Consumers: 1})},
			{cmd: retrn(ctags(1, "a", "c", 0, 2))},
			{cmd: discard(ctags(1, "a", "", 1)), check: stats(1, QueueStats{Unacked: 1, Consumers: 1})},
		}},
		{"auto-ack tags are freed by return and discard alike", []qstep{
			{cmd: checkout(dlq, "a", "c", 1, true)},
			{cmd: enqueue1(0, dlq, "m1", "m2", "m3"), deliv: []string{"a/c#1:m1"}},
			{cmd: retrn(ctags(3, "a", "c", 1)), deliv: []string{"a/c#2:m2"}},
			{cmd: discard(ctags(3, "a", "c", 2)), deliv: []string{"a/c#3:m3"}},
		}},
		{"consumer tag empty addresses the session's gets", []qstep{
			{cmd: enqueue1(0, jobs, "m1", "m2", "m3")},
			{cmd: get(jobs, "a", false, 0, 0)},
			{cmd: get(jobs, "a", false, 0, 0)},
			{cmd: settle(ctags(1, "a", "", 1)), check: stats(1, QueueStats{Ready: 1, ReadyBytes: 2, Unacked: 1})},
			{cmd: retrn(ctags(1, "a", "", 2)), check: ready(1, "m2", "m3")},
			{cmd: get(jobs, "a", false, 0, 0), check: func(t *testing.T, res *Result, _ *QueueGroup) {
				if res.Got == nil || dstr(*res.Got) != "a/#3:m2(r1)" {
					t.Fatalf("got %+v", res.Got)
				}
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}
