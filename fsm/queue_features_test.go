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

func withMaxPriority(n uint32) specOpt { return func(s *fsmpb.QueueSpec) { s.MaxPriority = n } }

// prioMsg is a message of priority p.
func prioMsg(body string, p uint32) *fsmpb.EnqueueMessage {
	m := emsg(body, 0)
	m.Payload.Properties = &fsmpb.Properties{Priority: p}
	return m
}

// TestPriorities: in a queue with x-max-priority messages go highest
// priority first, FIFO within a priority, priorities above the maximum
// count as the maximum; a returned message keeps its priority (ahead of
// the ready ones of its level); a snapshot keeps the order.
func TestPriorities(t *testing.T) {
	r := newQueueRunner(t)
	q := qspec(1, "prio", withMaxPriority(10))
	r.ok(enqueue(0, []*fsmpb.QueueSpec{q}, prioMsg("low1", 0), prioMsg("mid1", 5), prioMsg("high", 9),
		prioMsg("mid2", 5), prioMsg("over", 200), prioMsg("low2", 0)))
	wantStrings(t, "ready order", readyBodies(r.g, 1), []string{"over", "high", "mid1", "mid2", "low1", "low2"})
	res := r.ok(checkout(q, "s", "c", 2, false))
	wantStrings(t, "first two", dstrs(res.Deliveries), []string{"s/c#1:over", "s/c#2:high"})
	// "high" comes back: ahead of mid1, behind nothing.
	res = r.ok(retrn(ctags(1, "s", "c", 2)))
	wantStrings(t, "after the return", dstrs(res.Deliveries), []string{"s/c#3:high(r1)"})
	r.ok(&fsmpb.Cancel{Queue: 1, Session: "s", ConsumerTag: "c"})
	wantStrings(t, "after the cancel", readyBodies(r.g, 1), []string{"over", "high", "mid1", "mid2", "low1", "low2"})
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "restored order", readyBodies(restored, 1), readyBodies(r.g, 1))
	// "over" (capped at 10) came back: ahead of a new message of 10.
	r.ok(enqueue(0, []*fsmpb.QueueSpec{q}, prioMsg("top", 10)))
	wantStrings(t, "with top", readyBodies(r.g, 1)[:3], []string{"over", "top", "high"})
	res = r.ok(get(q, "g", true, 0, 0))
	if string(res.Got.Payload.GetBody()) != "over" {
		t.Fatalf("get took %q, want over", res.Got.Payload.GetBody())
	}
	// Without x-max-priority the property is ignored: FIFO.
	plain := qspec(2, "plain")
	r.ok(enqueue(0, []*fsmpb.QueueSpec{plain}, prioMsg("a", 0), prioMsg("b", 9)))
	wantStrings(t, "plain queue", readyBodies(r.g, 2), []string{"a", "b"})
}

// TestConsumerPriorities: consumers of a higher x-priority get messages
// while they have credit; equal ones take turns; a lower one gets what
// the higher ones have no credit for.
func TestConsumerPriorities(t *testing.T) {
	r := newQueueRunner(t)
	q := qspec(1, "jobs")
	low := checkout(q, "s", "low", 0, false)
	hi1, hi2 := checkout(q, "s", "hi1", 1, false), checkout(q, "s", "hi2", 1, false)
	hi1.Priority, hi2.Priority = 5, 5
	r.ok(low)
	r.ok(hi1)
	r.ok(hi2)
	res := r.ok(enqueue1(0, q, "m1", "m2", "m3", "m4"))
	wantStrings(t, "deliveries", dstrs(res.Deliveries), []string{"s/hi1#1:m1", "s/hi2#1:m2", "s/low#1:m3", "s/low#2:m4"})
	res = r.ok(settle(ctags(1, "s", "hi2", 1)))
	wantStrings(t, "after hi2's ack", dstrs(res.Deliveries), nil)
	res = r.ok(enqueue1(0, q, "m5"))
	wantStrings(t, "next goes to hi2", dstrs(res.Deliveries), []string{"s/hi2#2:m5"})
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	res = r.ok(settle(ctags(1, "s", "hi1", 1)))
	res2 := restored.Apply(r.next-1, settle(ctags(1, "s", "hi1", 1)))
	if !bytes.Equal(snapshotBytes(t, r.g), snapshotBytes(t, restored)) {
		t.Fatal("restored state differs")
	}
	wantStrings(t, "restored deliveries", dstrs(res2.Deliveries), dstrs(res.Deliveries))
}

// TestQueueSpecLevels: a declaration of level 0 (every entry from before
// FSM version 3) keeps its meaning — the new arguments without effect, no
// default delivery limit — and one of ArgsLevel3 reads them and defaults
// the delivery limit to 20, -1 being unlimited.
func TestQueueSpecLevels(t *testing.T) {
	i := func(v int64) *fsmpb.Value { return &fsmpb.Value{Kind: &fsmpb.Value_IntValue{IntValue: v}} }
	b := func(v bool) *fsmpb.Value { return &fsmpb.Value{Kind: &fsmpb.Value_BoolValue{BoolValue: v}} }
	args := map[string]*fsmpb.Value{"x-expires": i(1000), "x-single-active-consumer": b(true), "x-max-priority": i(10), "x-consumer-timeout": i(5000)}
	old, err := QueueSpecFromArgs(1, "q", args, 0)
	if err != nil || specHasFeatures(old) || old.DeliveryLimit != 0 {
		t.Fatalf("level 0: %v %v", old, err)
	}
	spec, err := QueueSpecFromArgs(1, "q", args, ArgsLevel3)
	if err != nil || spec.GetExpiresMs() != 1000 || !spec.SingleActiveConsumer || spec.MaxPriority != 10 || spec.GetConsumerTimeoutMs() != 5000 || spec.DeliveryLimit != DefaultDeliveryLimit {
		t.Fatalf("level 1: %v %v", spec, err)
	}
	for _, tc := range []struct {
		v    int64
		want uint32
	}{{-1, 0}, {0, 0}, {3, 3}} {
		spec, err := QueueSpecFromArgs(1, "q", map[string]*fsmpb.Value{"delivery-limit": i(tc.v)}, ArgsLevel3)
		if err != nil || spec.DeliveryLimit != tc.want {
			t.Fatalf("delivery-limit %d: %v %v, want %d", tc.v, spec, err, tc.want)
		}
	}
	for name, v := range map[string]*fsmpb.Value{"x-expires": i(0), "x-max-priority": i(256), "x-consumer-timeout": i(-5), "x-single-active-consumer": i(1)} {
		if _, err := QueueSpecFromArgs(1, "q", map[string]*fsmpb.Value{name: v}, ArgsLevel3); err == nil {
			t.Errorf("%s=%v accepted", name, v)
		}
		if _, err := QueueSpecFromArgs(1, "q", map[string]*fsmpb.Value{name: v}, 0); err != nil {
			t.Errorf("level 0 refused %s=%v: %v", name, v, err)
		}
	}
}

// TestMetaKeepsArgsLevel: the meta state makes a queue's spec at its
// declaration's level, and a snapshot keeps the level, so a restored
// replica makes the same spec.
func TestMetaKeepsArgsLevel(t *testing.T) {
	m := NewMeta(2)
	args := map[string]*fsmpb.Value{"x-expires": {Kind: &fsmpb.Value_IntValue{IntValue: 500}}}
	if res := m.Apply(1, &fsmpb.DeclareQueue{Name: "new", Arguments: args, ArgsLevel: ArgsLevel3}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Apply(2, &fsmpb.DeclareQueue{Name: "old", Arguments: args}); res.Err != nil {
		t.Fatal(res.Err)
	}
	var buf bytes.Buffer
	if err := m.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := RestoreMeta(&buf, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range []*Meta{m, r} {
		nq, _ := mm.Queue("/", "new")
		oq, _ := mm.Queue("/", "old")
		if nq.Spec.GetExpiresMs() != 500 || nq.Spec.DeliveryLimit != DefaultDeliveryLimit || oq.Spec.ExpiresMs != nil || oq.Spec.DeliveryLimit != 0 {
			t.Fatalf("specs: new %v, old %v", nq.Spec, oq.Spec)
		}
	}
}

// TestConsumerTimeout: a delivery unacked for its consumer's timeout,
// counted from its assignment in the state, ends the consumer at the first
// Tick at or after it: its deliveries return (redelivered) and
// Result.Ended says why. Acks in time keep it; a snapshot keeps the
// assignment times.
func TestConsumerTimeout(t *testing.T) {
	r := newQueueRunner(t)
	q := qspec(1, "jobs")
	co := checkout(q, "s", "c", 0, false)
	co.NowMs, co.TimeoutMs = 1000, 500
	r.ok(co)
	slow := checkout(q, "s", "auto", 0, true) // auto-ack: no timeout
	slow.NowMs, slow.TimeoutMs = 1000, 500
	r.ok(slow)
	r.ok(enqueue1(1100, q, "m1", "m2"))
	r.ok(&fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{q}, Messages: []*fsmpb.EnqueueMessage{emsg("m3", 0)}, NowMs: 1300})
	// c holds m1 (1100) and m3 (1300); auto holds m2.
	if got := r.g.NextDeadline(); got != 1600 {
		t.Fatalf("deadline %d, want 1600", got)
	}
	if res := r.ok(tick(1599)); len(res.Ended) != 0 {
		t.Fatalf("ended early: %+v", res.Ended)
	}
	// m1 acked at 1590: m3 (1300) is now the oldest.
	r.ok(&fsmpb.Settle{Items: []*fsmpb.ConsumerTags{ctags(1, "s", "c", 1)}, NowMs: 1590})
	if got := r.g.NextDeadline(); got != 1800 {
		t.Fatalf("deadline after the ack %d, want 1800", got)
	}
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, r.g)))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*QueueGroup{r.g, restored} {
		res := g.Apply(r.next, tick(1800))
		if len(res.Ended) != 1 || !res.Ended[0].Timeout || res.Ended[0].Tag != "c" ||
			res.Ended[0].Reason != "consumer timeout: delivery tag 2 unacknowledged for 500ms" {
			t.Fatalf("ended %+v", res.Ended)
		}
		if st, _ := g.QueueStats(1); st.Consumers != 1 || st.Ready != 0 || st.Unacked != 0 {
			t.Fatalf("after the timeout: %+v", st)
		}
		// m3 came back and went to the other consumer, redelivered.
		wantStrings(t, "redelivered", dstrs(res.Deliveries), []string{"s/auto#2:m3(r1)"})
	}
}
