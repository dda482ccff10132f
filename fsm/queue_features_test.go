package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestDropQueueEndsConsumers: DropQueue lists every consumer of the queue,
// by session then tag, with the command's reason ("queue deleted" when it
// gives none), so the leader can end their streams.
func TestDropQueueEndsConsumers(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{{"", "queue deleted"}, {"virtual host deleted", "virtual host deleted"}} {
		r := newQueueRunner(t)
		jobs, other := qspec(1, "jobs"), qspec(2, "other")
		r.ok(checkout(jobs, "s2", "b", 0, false))
		r.ok(checkout(jobs, "s1", "z", 0, false))
		r.ok(checkout(jobs, "s1", "a", 0, false))
		r.ok(checkout(other, "s1", "a", 0, false))
		res := r.ok(&fsmpb.DropQueue{Queue: 1, Reason: tc.reason})
		var got []string
		for _, e := range res.Ended {
			if e.Queue != 1 || e.QueueName != "jobs" || e.Reason != tc.want {
				t.Fatalf("ended %+v, want queue 1 jobs, reason %q", e, tc.want)
			}
			got = append(got, e.Session+"/"+e.Tag)
		}
		wantStrings(t, "ended", got, []string{"s1/a", "s1/z", "s2/b"})
		if !r.g.HasSession("s1") || r.g.HasSession("s2") {
			t.Fatalf("session index after drop: s1 %t (want true: other), s2 %t", r.g.HasSession("s1"), r.g.HasSession("s2"))
		}
		if res := r.ok(&fsmpb.DropQueue{Queue: 1}); len(res.Ended) != 0 {
			t.Fatalf("second drop ended %+v", res.Ended)
		}
	}
}

func withExpires(ms int64) specOpt { return func(s *fsmpb.QueueSpec) { s.ExpiresMs = &ms } }

func expiredIDs(res *Result) []string {
	var out []string
	for _, q := range res.ExpiredQueues {
		out = append(out, q.Name)
	}
	return out
}

// TestQueueExpires: a queue with x-expires is listed as expired by the
// first Tick at or after its last use + expires, where a use is a
// declaration (QueueUsed), a consumer attaching, or a get; while it has
// consumers it does not expire, and when the last goes its idle time
// starts at the next Tick (the machine has no clock of its own). The
// timer survives snapshot and restore.
func TestQueueExpires(t *testing.T) {
	r := newQueueRunner(t)
	q := qspec(1, "tmp", withExpires(1000))
	r.ok(&fsmpb.QueueUsed{Queue: q, NowMs: 1000})
	if got := r.g.NextDeadline(); got != 2000 {
		t.Fatalf("deadline %d, want 2000", got)
	}
	wantStrings(t, "expired at 1999", expiredIDs(r.ok(tick(1999))), nil)
	// Re-declared at 1500: the timer starts again.
	r.ok(&fsmpb.QueueUsed{Queue: q, NowMs: 1500})
	wantStrings(t, "expired at 2000", expiredIDs(r.ok(tick(2000))), nil)
	// A consumer holds it however long.
	r.ok(&fsmpb.Checkout{Queue: q, Session: "s", ConsumerTag: "c", NowMs: 2100})
	if got := r.g.NextDeadline(); got != 0 {
		t.Fatalf("deadline with a consumer %d, want 0", got)
	}
	wantStrings(t, "expired with a consumer", expiredIDs(r.ok(tick(9000))), nil)
	// Its last consumer goes: idle from the next Tick.
	r.ok(cancel(1, "s", "c"))
	if got := r.g.NextDeadline(); got != 1 {
		t.Fatalf("deadline after the last consumer went %d, want 1 (due: start the idle time)", got)
	}
	wantStrings(t, "expired at the first tick after the cancel", expiredIDs(r.ok(tick(10000))), nil)
	// A get is a use too.
	r.ok(get(q, "s", true, 0, 10500))
	wantStrings(t, "expired at 11499", expiredIDs(r.ok(tick(11499))), nil)

	// Snapshot and restore keep the timer.
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := restored.NextDeadline(), r.g.NextDeadline(); got != want || got != 11500 {
		t.Fatalf("restored deadline %d, original %d, want 11500", got, want)
	}
	wantStrings(t, "expired at 11500", expiredIDs(r.ok(tick(11500))), []string{"tmp"})
	// Listed again until dropped.
	wantStrings(t, "expired at 11600", expiredIDs(r.ok(tick(11600))), []string{"tmp"})
	res := restored.Apply(r.next, tick(11500))
	wantStrings(t, "restored: expired at 11500", expiredIDs(res), []string{"tmp"})
	r.ok(&fsmpb.DropQueue{Queue: 1, Reason: "queue expired (x-expires)"})
	wantStrings(t, "expired after the drop", expiredIDs(r.ok(tick(12000))), nil)

	// A queue without x-expires never expires.
	r.ok(&fsmpb.QueueUsed{Queue: qspec(2, "forever"), NowMs: 1})
	wantStrings(t, "no x-expires", expiredIDs(r.ok(tick(1e12))), nil)
}

func withSAC() specOpt { return func(s *fsmpb.QueueSpec) { s.SingleActiveConsumer = true } }

func activeStrs(res *Result) []string {
	var out []string
	for _, a := range res.ActiveChanged {
		out = append(out, fmt.Sprintf("%s/%s=%t", a.Session, a.Tag, a.Active))
	}
	return out
}

// TestSingleActiveConsumer: only the first consumer in registration order
// gets messages, whatever the others' credit; when it goes (cancel or
// session down) the next takes over and gets the messages it left unacked
// first; Result.ActiveChanged tells who became active. Restored, the same
// one is active.
func TestSingleActiveConsumer(t *testing.T) {
	r := newQueueRunner(t)
	q := qspec(1, "sac", withSAC())
	res := r.ok(checkout(q, "a", "c", 2, false))
	wantStrings(t, "first consumer", activeStrs(res), []string{"a/c=true"})
	res = r.ok(checkout(q, "b", "c", 0, false))
	wantStrings(t, "second consumer", activeStrs(res), nil)
	r.ok(checkout(q, "c", "c", 0, false))
	res = r.ok(enqueue1(0, q, "m1", "m2", "m3", "m4"))
	wantStrings(t, "deliveries", dstrs(res.Deliveries), []string{"a/c#1:m1", "a/c#2:m2"})
	if st, _ := r.g.QueueStats(1); st.ActiveConsumer != "c" || !r.g.ConsumerActive(1, "a", "c") || r.g.ConsumerActive(1, "b", "c") {
		t.Fatalf("stats %+v, a active %t, b active %t", st, r.g.ConsumerActive(1, "a", "c"), r.g.ConsumerActive(1, "b", "c"))
	}
	r.ok(settle(ctags(1, "a", "c", 1)))
	// a goes with m2 unacked (and got m3 after the ack): b takes over,
	// its unacked first, then the rest in order.
	res = r.ok(sessionDown("a"))
	wantStrings(t, "active after a went", activeStrs(res), []string{"b/c=true"})
	wantStrings(t, "b's deliveries", dstrs(res.Deliveries), []string{"b/c#1:m2(r1)", "b/c#2:m3(r1)", "b/c#3:m4"})

	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	res = r.ok(cancel(1, "b", "c"))
	wantStrings(t, "active after b cancelled", activeStrs(res), []string{"c/c=true"})
	wantStrings(t, "c's deliveries", dstrs(res.Deliveries), []string{"c/c#1:m2(r2)", "c/c#2:m3(r2)", "c/c#3:m4(r1)"})
	res2 := restored.Apply(r.next-1, cancel(1, "b", "c"))
	wantStrings(t, "restored: c's deliveries", dstrs(res2.Deliveries), dstrs(res.Deliveries))
	wantStrings(t, "restored: active", activeStrs(res2), activeStrs(res))
}
