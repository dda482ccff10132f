package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// makeQueueLog encodes command bodies as the Raft log entries the adapter
// would see.
func makeQueueLog(t testing.TB, bodies ...proto.Message) [][]byte {
	t.Helper()
	log := make([][]byte, 0, len(bodies))
	for _, b := range bodies {
		data, err := Encode(b)
		if err != nil {
			t.Fatalf("encode %T: %v", b, err)
		}
		log = append(log, data)
	}
	return log
}

// replayQueueLog decodes and applies log entries at indexes start, start+1, ….
func replayQueueLog(t testing.TB, g *QueueGroup, start uint64, log [][]byte) []*Result {
	t.Helper()
	out := make([]*Result, 0, len(log))
	for i, data := range log {
		cmd, err := Decode(data)
		if err != nil {
			t.Fatalf("decode entry %d: %v", i, err)
		}
		out = append(out, g.Apply(start+uint64(i), cmd))
	}
	return out
}

// queueRunner applies commands one at a time, through Encode/Decode, with
// increasing Raft indexes.
type queueRunner struct {
	t    testing.TB
	g    *QueueGroup
	next uint64
}

func newQueueRunner(t testing.TB) *queueRunner {
	return &queueRunner{t: t, g: NewQueueGroup(), next: 1}
}

func (r *queueRunner) apply(body proto.Message) *Result {
	r.t.Helper()
	res := replayQueueLog(r.t, r.g, r.next, makeQueueLog(r.t, body))[0]
	r.next++
	return res
}

// ok applies body and fails the test on a Result error.
func (r *queueRunner) ok(body proto.Message) *Result {
	r.t.Helper()
	res := r.apply(body)
	if res.Err != nil {
		r.t.Fatalf("%T: unexpected error %v", body, res.Err)
	}
	return res
}

type specOpt func(*fsmpb.QueueSpec)

func qspec(id uint64, name string, opts ...specOpt) *fsmpb.QueueSpec {
	s := &fsmpb.QueueSpec{Id: id, Name: name}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withMaxLen(n int64) specOpt { return func(s *fsmpb.QueueSpec) { s.MaxLength = proto.Int64(n) } }
func withMaxBytes(n int64) specOpt {
	return func(s *fsmpb.QueueSpec) { s.MaxLengthBytes = proto.Int64(n) }
}
func withTTL(ms int64) specOpt { return func(s *fsmpb.QueueSpec) { s.MessageTtlMs = proto.Int64(ms) } }
func withReject() specOpt {
	return func(s *fsmpb.QueueSpec) { s.Overflow = fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH }
}
func withDeliveryLimit(n uint32) specOpt { return func(s *fsmpb.QueueSpec) { s.DeliveryLimit = n } }
func withDLX(ex, key string) specOpt {
	return func(s *fsmpb.QueueSpec) { s.DeadLetterExchange, s.DeadLetterRoutingKey = ex, key }
}

func enqueue(now int64, specs []*fsmpb.QueueSpec, msgs ...*fsmpb.EnqueueMessage) *fsmpb.Enqueue {
	return &fsmpb.Enqueue{Queues: specs, Messages: msgs, NowMs: now}
}

// enqueue1 enqueues bodies to the single queue spec.
func enqueue1(now int64, spec *fsmpb.QueueSpec, bodies ...string) *fsmpb.Enqueue {
	e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}, NowMs: now}
	for _, b := range bodies {
		e.Messages = append(e.Messages, emsg(b, 0))
	}
	return e
}

func emsg(body string, refs ...uint32) *fsmpb.EnqueueMessage {
	return &fsmpb.EnqueueMessage{
		QueueRefs: refs,
		Payload:   &fsmpb.Payload{Body: []byte(body), RoutingKey: "rk." + body, Exchange: "ex"},
	}
}

func emsgP(body, producer string, seq uint64, refs ...uint32) *fsmpb.EnqueueMessage {
	m := emsg(body, refs...)
	m.ProducerId, m.Sequence = producer, seq
	return m
}

func checkout(spec *fsmpb.QueueSpec, session, tag string, prefetch uint32, autoAck bool) *fsmpb.Checkout {
	return &fsmpb.Checkout{Queue: spec, Session: session, ConsumerTag: tag, Prefetch: prefetch, AutoAck: autoAck}
}

func ctags(q uint64, session, tag string, tags ...uint64) *fsmpb.ConsumerTags {
	return &fsmpb.ConsumerTags{Queue: q, Session: session, ConsumerTag: tag, Tags: tags}
}

func settle(items ...*fsmpb.ConsumerTags) *fsmpb.Settle   { return &fsmpb.Settle{Items: items} }
func retrn(items ...*fsmpb.ConsumerTags) *fsmpb.Return    { return &fsmpb.Return{Items: items} }
func discard(items ...*fsmpb.ConsumerTags) *fsmpb.Discard { return &fsmpb.Discard{Items: items} }
func sessionDown(s ...string) *fsmpb.SessionDown          { return &fsmpb.SessionDown{Sessions: s} }
func cancel(q uint64, session, tag string) *fsmpb.Cancel {
	return &fsmpb.Cancel{Queue: q, Session: session, ConsumerTag: tag}
}
func tick(now int64) *fsmpb.Tick { return &fsmpb.Tick{NowMs: now} }

func get(spec *fsmpb.QueueSpec, session string, autoAck bool, lease, now int64) *fsmpb.Get {
	return &fsmpb.Get{Queue: spec, Session: session, AutoAck: autoAck, LeaseUntilMs: lease, NowMs: now}
}

// dstr renders a delivery compactly: "session/ctag#tag:body", with "(rN)"
// for a redelivery of count N.
func dstr(d Delivery) string {
	s := fmt.Sprintf("%s/%s#%d:%s", d.Session, d.ConsumerTag, d.Tag, d.Payload.GetBody())
	if d.Redelivered {
		s += fmt.Sprintf("(r%d)", d.DeliveryCount)
	}
	return s
}

func dstrs(ds []Delivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, dstr(d))
	}
	return out
}

// dlstrs renders dead letters as "reason:exchange/key:body".
func dlstrs(ds []DeadLetter) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s:%s/%s:%s", d.Reason, d.Exchange, d.RoutingKey, d.Payload.GetBody()))
	}
	return out
}

// readyBodies lists q's ready bodies in service order (returns first).
func readyBodies(g *QueueGroup, id uint64) []string {
	q := g.queues[id]
	if q == nil {
		return nil
	}
	out := []string{}
	for _, d := range q.readyDeques() {
		for i := range d.Len() {
			m := d.At(i)
			out = append(out, string(m.payload(q.spec.GetName()).GetBody()))
		}
	}
	return out
}

func wantStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// snapshotBytes writes g's snapshot.
func snapshotBytes(t testing.TB, g *QueueGroup) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := g.WriteSnapshot(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return buf.Bytes()
}

// normResult is a Result with payloads replaced by their bytes and the
// error by its text, for deep comparison across replicas.
type normResult struct {
	Err         string
	Enqueued    []EnqueueOutcome
	Deliveries  []normDelivery
	Got         *normDelivery
	Count       uint64
	DeadLetters []string
}

type normDelivery struct {
	Delivery
	Payload string
}

func payloadBytes(p *fsmpb.Payload) string {
	if p == nil {
		return "<nil>"
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func normDeliveries(ds []Delivery) []normDelivery {
	var out []normDelivery
	for _, d := range ds {
		p := payloadBytes(d.Payload)
		d.Payload = nil
		out = append(out, normDelivery{Delivery: d, Payload: p})
	}
	return out
}

func normalize(r *Result) normResult {
	n := normResult{Enqueued: r.Enqueued, Count: r.Count, Deliveries: normDeliveries(r.Deliveries)}
	if r.Err != nil {
		n.Err = r.Err.Error()
	}
	if r.Got != nil {
		n.Got = &normDeliveries([]Delivery{*r.Got})[0]
	}
	for _, d := range r.DeadLetters {
		n.DeadLetters = append(n.DeadLetters, fmt.Sprintf("%s|%s|%s|%s|%s", d.Exchange, d.RoutingKey, d.Reason, d.Queue, payloadBytes(d.Payload)))
	}
	return n
}

// qstep is one command of a table test and what to expect of its result.
// Deliveries and dead letters are always checked (nil means none).
type qstep struct {
	cmd   proto.Message
	deliv []string // dstr of Result.Deliveries
	dead  []string // dlstrs of Result.DeadLetters
	err   error    // sentinel the error must wrap; nil: no error
	check func(t *testing.T, res *Result, g *QueueGroup)
}

// runSteps applies steps in order on a fresh group and checks each.
func runSteps(t *testing.T, steps []qstep) *QueueGroup {
	t.Helper()
	r := newQueueRunner(t)
	for i, s := range steps {
		res := r.apply(s.cmd)
		if s.err == nil && res.Err != nil {
			t.Fatalf("step %d (%T): unexpected error %v", i, s.cmd, res.Err)
		}
		if s.err != nil && !errors.Is(res.Err, s.err) {
			t.Fatalf("step %d (%T): error %v, want one wrapping %v", i, s.cmd, res.Err, s.err)
		}
		if got := dstrs(res.Deliveries); !slices.Equal(got, s.deliv) && (len(got) != 0 || len(s.deliv) != 0) {
			t.Fatalf("step %d (%T): deliveries\n got %q\nwant %q", i, s.cmd, got, s.deliv)
		}
		if got := dlstrs(res.DeadLetters); !slices.Equal(got, s.dead) && (len(got) != 0 || len(s.dead) != 0) {
			t.Fatalf("step %d (%T): dead letters\n got %q\nwant %q", i, s.cmd, got, s.dead)
		}
		if s.check != nil {
			s.check(t, res, r.g)
		}
	}
	return r.g
}
