package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// limitedGroup is a queue group with something of everything: queue 1
// "jobs" with consumer (a, c) holding m1, a get of session b holding m2,
// and m3 ready.
func limitedGroup(t *testing.T) *queueRunner {
	r := newQueueRunner(t)
	jobs := qspec(1, "jobs")
	r.ok(checkout(jobs, "a", "c", 1, false))
	r.ok(enqueue1(10, jobs, "m1", "m2", "m3"))
	r.ok(get(jobs, "b", false, 0, 10))
	return r
}

// TestQueueRefusesPastLimits applies queue commands with one field past a
// limit each, Go bodies: each is refused with ErrInvalid, its error names
// the field, and the snapshot is what it was (the clock included).
func TestQueueRefusesPastLimits(t *testing.T) {
	jobs := qspec(1, "jobs")
	long := repeat(MaxNameBytes + 1)
	longSession := repeat(MaxSessionIDBytes + 1)
	specWith := func(f func(*fsmpb.QueueSpec)) *fsmpb.QueueSpec {
		s := proto.Clone(jobs).(*fsmpb.QueueSpec)
		f(s)
		return s
	}
	manySessions := make([]string, MaxSessionsPerCommand+1)
	for i := range manySessions {
		manySessions[i] = fmt.Sprintf("s%d", i)
	}
	tests := []struct {
		name string
		cmd  proto.Message
		want string
	}{
		{"enqueue, spec name of 204,800 bytes", enqueue1(20, specWith(func(s *fsmpb.QueueSpec) { s.Name = repeat(204800) }), "x"), "queues[0]: invalid: queue name is 204800 bytes"},
		{"enqueue, invalid UTF-8 spec name", enqueue(20, []*fsmpb.QueueSpec{jobs, qspec(2, "q\xff")}, emsg("x", 0)), "queues[1]: invalid: queue name is not valid UTF-8"},
		{"enqueue, spec without a name", enqueue1(20, qspec(2, ""), "x"), "queue name is empty"},
		{"enqueue, spec id 0", enqueue1(20, qspec(0, "zero"), "x"), "id 0"},
		{"enqueue, nil spec", enqueue(20, []*fsmpb.QueueSpec{nil}, emsg("x", 0)), "missing queue spec"},
		{"enqueue, message without a queue ref", enqueue(20, []*fsmpb.QueueSpec{jobs}, emsg("x", 0), emsg("y")), "messages[1] has no queue ref"},
		{"enqueue, queue ref out of range", enqueue(20, []*fsmpb.QueueSpec{jobs}, emsg("x", 1)), "refers to queue 1 of 1"},
		{"enqueue, message without a payload", enqueue(20, []*fsmpb.QueueSpec{jobs}, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}}), "has no payload"},
		{"enqueue, unknown size rule", &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{jobs}, Messages: []*fsmpb.EnqueueMessage{emsg("x", 0)}, NowMs: 20, SizeRule: 7}, "size rule 7 is unknown"},
		{"checkout, long consumer tag", checkout(jobs, "a", long, 0, false), "consumer tag is 256 bytes"},
		{"checkout, invalid UTF-8 consumer tag", checkout(jobs, "a", "c\xff", 0, false), "consumer tag is not valid UTF-8"},
		{"checkout, empty consumer tag", checkout(jobs, "a", "", 0, false), "reserved for gets"},
		{"checkout, long session", checkout(jobs, longSession, "c", 0, false), "session id is 129 bytes long; the limit is 128"},
		{"checkout, invalid UTF-8 session", checkout(jobs, "a\xff", "c", 0, false), "session id is not valid UTF-8"},
		{"checkout, prefetch 65536", checkout(jobs, "a", "c2", MaxPrefetch+1, false), "prefetch is 65536; the limit is 65535"},
		{"checkout, long spec name", checkout(qspec(2, long), "a", "c", 0, false), "queue name is 256 bytes"},
		{"get, long session", get(jobs, longSession, false, 0, 20), "session id is 129 bytes"},
		{"get, no session", get(jobs, "", true, 0, 20), "without a session"},
		{"get, invalid UTF-8 spec name", get(qspec(2, "\xff"), "a", false, 0, 20), "queue name is not valid UTF-8"},
		{"cancel, empty session", cancel(1, "", "c"), "session id is empty"},
		{"cancel, long consumer tag", cancel(1, "a", long), "consumer tag is 256 bytes"},
		{"settle, long session in the second item", settle(ctags(1, "a", "c", 1), ctags(1, longSession, "c", 1)), "settle: items[1]: invalid: session id is 129 bytes"},
		{"return, invalid UTF-8 consumer tag", retrn(ctags(1, "a", "c\xff", 1)), "return: items[0]: invalid: consumer tag is not valid UTF-8"},
		{"discard, empty session", discard(ctags(1, "", "", 1)), "discard: items[0]: invalid: session id is empty"},
		{"session down, empty id", sessionDown("a", ""), "sessions[1] is empty"},
		{"session down, long id", sessionDown(longSession), "sessions[0] is 129 bytes"},
		{"session down, too many ids", sessionDown(manySessions...), "100001 sessions; the limit is 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := limitedGroup(t)
			before := queueSnapshotAt(t, r.g, r.next)
			res := r.g.Apply(r.next, tt.cmd)
			if !errors.Is(res.Err, ErrInvalid) || !strings.Contains(res.Err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrInvalid saying %q", res.Err, tt.want)
			}
			if len(res.Deliveries) > 0 || len(res.Enqueued) > 0 || res.Got != nil || res.Count > 0 || len(res.DeadLetters) > 0 {
				t.Fatalf("refused command reports effects: %+v", res)
			}
			if !bytes.Equal(before, snapshotBytes(t, r.g)) {
				t.Fatal("refused command changed the state")
			}
			if err := checkSessionIndex(r.g); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestQueueRefusedCheckoutKeepsClock: a re-checkout with other settings is
// refused (ErrPrecondition) without moving the clock, like every refusal.
func TestQueueRefusedCheckoutKeepsClock(t *testing.T) {
	r := limitedGroup(t)
	c := checkout(qspec(1, "jobs"), "a", "c", 5, false)
	c.NowMs = 1000
	before := queueSnapshotAt(t, r.g, r.next)
	if res := r.g.Apply(r.next, c); !errors.Is(res.Err, ErrPrecondition) {
		t.Fatalf("re-checkout with another prefetch: %v", res.Err)
	}
	if !bytes.Equal(before, snapshotBytes(t, r.g)) || r.g.lastNow != 10 {
		t.Fatalf("refused re-checkout changed the state (clock %d)", r.g.lastNow)
	}
}

// TestEnqueueRefusesBadMessageAlone: a message whose payload or producer
// id is past a limit is answered EnqueueRejected, enqueued nowhere and not
// recorded for deduplication; the other messages of the command go in.
func TestEnqueueRefusesBadMessageAlone(t *testing.T) {
	headers := map[string]*fsmpb.Value{}
	for i := range MaxArgs + 1 {
		headers[fmt.Sprintf("h%d", i)] = num(1)
	}
	bad := []struct {
		name string
		edit func(*fsmpb.EnqueueMessage)
		want string
	}{
		{"129 headers", func(m *fsmpb.EnqueueMessage) { m.Payload.Headers = headers }, "headers have 129 entries"},
		{"long header value", func(m *fsmpb.EnqueueMessage) {
			m.Payload.Headers = map[string]*fsmpb.Value{"h": str(repeat(MaxArgValueBytes + 1))}
		}, `headers value of "h" is 65537 bytes`},
		{"long routing key", func(m *fsmpb.EnqueueMessage) { m.Payload.RoutingKey = repeat(MaxNameBytes + 1) }, "routing key is 256 bytes"},
		{"invalid UTF-8 exchange", func(m *fsmpb.EnqueueMessage) { m.Payload.Exchange = "\xff" }, "exchange name is not valid UTF-8"},
		{"long message id", func(m *fsmpb.EnqueueMessage) {
			m.Payload.Properties = &fsmpb.Properties{MessageId: repeat(MaxPropertyBytes + 1)}
		}, "property message_id is 65537 bytes"},
		{"negative expiration", func(m *fsmpb.EnqueueMessage) { m.Payload.Properties = &fsmpb.Properties{ExpirationMs: -5} }, "expiration_ms is negative"},
		{"long producer id", func(m *fsmpb.EnqueueMessage) { m.ProducerId = repeat(MaxSessionIDBytes + 1) }, "producer id is 129 bytes"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			jobs := qspec(1, "jobs")
			r := newQueueRunner(t)
			m := emsgP("bad", "p", 2, 0)
			b.edit(m)
			res := r.g.Apply(r.next, enqueue(1, []*fsmpb.QueueSpec{jobs}, emsgP("m1", "p", 1, 0), m, emsgP("m3", "p", 3, 0)))
			r.next++
			if res.Err != nil || len(res.Enqueued) != 3 {
				t.Fatalf("result %+v", res)
			}
			if o := res.Enqueued[1]; o.Status != EnqueueRejected || !strings.Contains(o.Reason, b.want) {
				t.Fatalf("bad message: %+v, want rejected saying %q", o, b.want)
			}
			if res.Enqueued[0].Status != EnqueueOK || res.Enqueued[2].Status != EnqueueOK {
				t.Fatalf("the good messages: %+v", res.Enqueued)
			}
			wantStrings(t, "ready", readyBodies(r.g, 1), []string{"m1", "m3"})
			// Its (producer, sequence) was not recorded: a valid retry goes in.
			if res := r.ok(enqueue(2, []*fsmpb.QueueSpec{jobs}, emsgP("fixed", "p", 2, 0))); res.Enqueued[0].Status != EnqueueOK {
				t.Fatalf("retry of the refused message: %+v", res.Enqueued[0])
			}
		})
	}
}

// TestQueueSessionDownLegacySession: a consumer whose session id is past
// the limit (as an older log could create) goes with a SessionDown that
// names it; the same id is refused where it holds nothing.
func TestQueueSessionDownLegacySession(t *testing.T) {
	long := repeat(300)
	g := NewQueueGroup()
	g.Apply(1, enqueue1(5, qspec(1, "jobs"), "m1"))
	// What Apply of an older build would have done for a Checkout.
	q := g.queues[1]
	c := &queueConsumer{session: long, tag: repeat(400), nextTag: 1, out: map[uint64]outMsg{}}
	q.consumers[consumerKey{c.session, c.tag}] = c
	q.appendConsumer(c)
	g.addSessionRef(c.session, 1, c.tag)
	g.assign(q, &Result{})
	// A snapshot holds it, and restores.
	r, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, g)))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*QueueGroup{g, r} {
		if err := checkSessionIndex(g); err != nil || !g.HasSession(long) {
			t.Fatalf("session index: %v", err)
		}
		if res := g.Apply(2, cancel(1, long, c.tag)); !errors.Is(res.Err, ErrInvalid) {
			t.Fatalf("cancel of the long consumer tag: %v", res.Err)
		}
		if res := g.Apply(3, sessionDown(long+"x")); !errors.Is(res.Err, ErrInvalid) {
			t.Fatalf("session down of a long id that holds nothing: %v", res.Err)
		}
		res := g.Apply(4, sessionDown(long))
		if res.Err != nil || res.Count != 1 || g.HasSession(long) || !slices.Equal(readyBodies(g, 1), []string{"m1"}) {
			t.Fatalf("session down of the long id: %+v, ready %q", res, readyBodies(g, 1))
		}
		if err := checkSessionIndex(g); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQueueSessionIndexContent: the session index holds each session's
// consumer tags per queue ("" for its gets), so SessionDown and CheckedOut
// of one session visit only its own consumers, not the queue's others.
func TestQueueSessionIndexContent(t *testing.T) {
	r := newQueueRunner(t)
	jobs := qspec(1, "jobs")
	r.ok(enqueue1(1, jobs, "m1"))
	r.ok(get(jobs, "s07", false, 0, 0))
	for i := range 50 {
		r.ok(checkout(jobs, fmt.Sprintf("s%02d", i), "c", 0, false))
	}
	r.ok(checkout(jobs, "s07", "b", 0, false))
	if got := r.g.sessionTags("s07", 1); !slices.Equal(got, []string{"", "b", "c"}) {
		t.Fatalf("index of s07 on queue 1: %q", got)
	}
	if got := dstrs(r.g.CheckedOut("s07")); !slices.Equal(got, []string{"s07/#1:m1"}) {
		t.Fatalf("checked out by s07: %q", got)
	}
	res := r.ok(sessionDown("s07"))
	if r.g.HasSession("s07") || len(r.g.queues[1].consumers) != 49 || res.Count != 1 {
		t.Fatalf("after s07 went down: %d consumers, %d returned", len(r.g.queues[1].consumers), res.Count)
	}
	if err := checkSessionIndex(r.g); err != nil {
		t.Fatal(err)
	}
}
