package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// bodyKeeperSim does what the broker's body store adapter does around
// Apply, with a map for the store.
type bodyKeeperSim map[[2]uint64][]byte

func (s bodyKeeperSim) take(index uint64, cmd proto.Message) {
	if e, ok := cmd.(*fsmpb.Enqueue); ok {
		for i, m := range e.GetMessages() {
			p := m.GetPayload()
			if len(p.GetBody()) == 0 {
				continue
			}
			s[[2]uint64{index, uint64(i)}] = p.Body
			p.BodyRef = &fsmpb.BodyRef{Index: index, Position: uint32(i), Length: uint32(len(p.Body))}
			p.Body = nil
		}
	}
}

func (s bodyKeeperSim) fill(p *fsmpb.Payload) (*fsmpb.Payload, error) {
	r := p.GetBodyRef()
	if r == nil || len(p.GetBody()) > 0 {
		return p, nil
	}
	b, ok := s[[2]uint64{r.GetIndex(), uint64(r.GetPosition())}]
	if !ok {
		return nil, fmt.Errorf("no body %d/%d", r.GetIndex(), r.GetPosition())
	}
	c := proto.Clone(p).(*fsmpb.Payload)
	c.Body = b
	return c, nil
}

// TestBodiesOutsideTheState: a group whose bodies were moved out before
// Apply gives the same results and sizes as one keeping them; its
// snapshot, completed record by record, equals the one written with the
// bodies filled in; restoring that (moving the bodies out again) gives
// back the same state.
func TestBodiesOutsideTheState(t *testing.T) {
	spec := qspec(1, "q", withMaxBytes(10_000), withDLX("dlx", ""))
	spec.DeadLetterStrategy = fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE
	store := bodyKeeperSim{}
	kept, moved := newQueueRunner(t), newQueueRunner(t)
	cmds := []proto.Message{
		enqueue1(1000, spec, "alpha", "bravo", "charlie", ""),
		enqueue1(1001, spec, "delta-delta", "echo"),
		checkout(spec, "s1", "c1", 2, false),
		get(spec, "s2", false, 9000, 1002),
		discard(ctags(1, "s1", "c1", 1)),
		enqueue(1003, []*fsmpb.QueueSpec{spec}, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{
			Body: []byte("with headers"), Headers: map[string]*fsmpb.Value{"k": {Kind: &fsmpb.Value_StringValue{StringValue: "v"}}},
		}}),
	}
	var err error
	for _, c := range cmds {
		a := kept.ok(proto.Clone(c))
		mc := proto.Clone(c)
		store.take(moved.next, mc)
		b := moved.apply(mc)
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		for i := range b.Deliveries {
			if b.Deliveries[i].Payload, err = store.fill(b.Deliveries[i].Payload); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(dstrs(a.Deliveries), a.Count, len(a.DeadLetters)) != fmt.Sprint(dstrs(b.Deliveries), b.Count, len(b.DeadLetters)) {
			t.Fatalf("%T: results differ: %v / %v", c, dstrs(a.Deliveries), dstrs(b.Deliveries))
		}
	}
	a, _ := kept.g.QueueStats(1)
	b, _ := moved.g.QueueStats(1)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("stats with bodies %+v, without %+v", a, b)
	}
	refs := 0
	moved.g.VisitBodyRefs(func(*fsmpb.BodyRef) { refs++ })
	if refs == 0 {
		t.Fatal("no body references visited")
	}

	var index, filled, completed bytes.Buffer
	if err := moved.g.WriteSnapshot(&index); err != nil {
		t.Fatal(err)
	}
	if err := moved.g.WriteSnapshotFilled(&filled, store.fill); err != nil {
		t.Fatal(err)
	}
	if err := CompleteSnapshot(&completed, bytes.NewReader(index.Bytes()), store.fill); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(filled.Bytes(), completed.Bytes()) {
		t.Fatalf("completed snapshot (%d bytes) differs from the one written filled (%d bytes)", completed.Len(), filled.Len())
	}
	// Completing a complete snapshot changes nothing.
	var again bytes.Buffer
	if err := CompleteSnapshot(&again, bytes.NewReader(completed.Bytes()), store.fill); err != nil || !bytes.Equal(again.Bytes(), completed.Bytes()) {
		t.Fatalf("completing twice: %v", err)
	}
	// Restore, moving the bodies out again: the index snapshot is back.
	g, err := RestoreQueueGroupTaking(bytes.NewReader(completed.Bytes()), func(p *fsmpb.Payload) error {
		if p.GetBodyRef() != nil {
			p.Body = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var back bytes.Buffer
	if err := g.WriteSnapshot(&back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), index.Bytes()) {
		t.Fatal("restored state's snapshot differs from the original's")
	}
	// A damaged index snapshot is refused by its CRC.
	bad := bytes.Clone(index.Bytes())
	bad[len(bad)/2] ^= 1
	if err := CompleteSnapshot(&bytes.Buffer{}, bytes.NewReader(bad), store.fill); err == nil {
		t.Fatal("a damaged snapshot was completed")
	}
}

// TestQueuedPayloadForms: a payload whose body was moved out for its own
// entry is held inline, with nothing beside the record when the publisher
// set nothing else, and one BodyRef-less copy shared by the queues when it
// did; any other payload is held as it is. Each form gives back, in a
// delivery, exactly the payload enqueued.
func TestQueuedPayloadForms(t *testing.T) {
	jobs, audit := qspec(1, "jobs"), qspec(2, "audit")
	specs := []*fsmpb.QueueSpec{jobs, audit}
	ref := func(index uint64, pos uint32) *fsmpb.BodyRef {
		return &fsmpb.BodyRef{Index: index, Position: pos, Length: 7}
	}
	plain := &fsmpb.Payload{RoutingKey: "jobs", BodyRef: ref(1, 0)}
	withHeaders := &fsmpb.Payload{RoutingKey: "jobs", BodyRef: ref(1, 1),
		Headers: map[string]*fsmpb.Value{"k": {Kind: &fsmpb.Value_StringValue{StringValue: "v"}}}}
	otherEntry := &fsmpb.Payload{RoutingKey: "jobs", BodyRef: ref(9, 2)}
	inMemory := &fsmpb.Payload{RoutingKey: "jobs", Body: []byte("in-mem!")}
	named := &fsmpb.Payload{Exchange: "amq.direct", RoutingKey: "jobs", BodyRef: ref(1, 4)}
	e := enqueue(1, specs,
		&fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: plain},
		&fsmpb.EnqueueMessage{QueueRefs: []uint32{0, 1}, Payload: withHeaders},
		&fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: otherEntry},
		&fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: inMemory},
		&fsmpb.EnqueueMessage{QueueRefs: []uint32{0, 1}, Payload: named},
	)
	g := NewQueueGroup()
	if res := g.Apply(1, e); res.Err != nil {
		t.Fatal(res.Err)
	}
	q, a := g.queues[1], g.queues[2]
	at := func(q *queueState, i int) queueMsg { return q.main.At(i) }
	if m := at(q, 0); m.env != nil || m.ref != refInline || m.refLen != 7 {
		t.Fatalf("plain message: env %v, ref %#x, length %d; want inline and nothing else", m.env, m.ref, m.refLen)
	}
	if m, o := at(q, 1), at(a, 0); m.env == nil || m.env != o.env || m.env.BodyRef != nil || m.ref&refInline == 0 {
		t.Fatal("a message with headers: want one BodyRef-less copy shared by its queues, the reference inline")
	}
	if m := at(q, 2); m.env != otherEntry || m.ref != 0 {
		t.Fatal("a reference to another entry is not held as it is")
	}
	if m := at(q, 3); m.env != inMemory || m.ref != 0 {
		t.Fatal("a body in memory is not held as it is")
	}
	// A routing key is implied only for the queue it names.
	if m := at(q, 4); m.env == nil {
		t.Fatal("a named exchange was dropped")
	}
	g.Apply(2, checkout(jobs, "s", "c", 0, false))
	res := g.Apply(3, checkout(audit, "s", "c", 0, false))
	want := []*fsmpb.Payload{plain, withHeaders, otherEntry, inMemory, named}
	var got []*fsmpb.Payload
	for _, d := range res.Deliveries {
		got = append(got, d.Payload)
	}
	if len(got) != 2 || !proto.Equal(got[0], withHeaders) || !proto.Equal(got[1], named) {
		t.Fatalf("deliveries on audit: %v", got)
	}
	got = nil
	for _, d := range g.CheckedOut("s") {
		if d.Queue == 1 {
			got = append(got, d.Payload)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d deliveries on jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("delivery %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestSamePropertiesCoversEveryField: two properties that differ in any
// one field, or hold unknown fields, are not the same (a message would
// otherwise be handed out with another's properties).
func TestSamePropertiesCoversEveryField(t *testing.T) {
	if !sameProperties(nil, nil) || sameProperties(nil, &fsmpb.Properties{}) || !sameProperties(&fsmpb.Properties{}, &fsmpb.Properties{}) {
		t.Fatal("nil and empty properties compare wrong (they marshal differently)")
	}
	fields := (&fsmpb.Properties{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		b := &fsmpb.Properties{}
		switch f.Kind() {
		case protoreflect.StringKind:
			b.ProtoReflect().Set(f, protoreflect.ValueOfString("x"))
		case protoreflect.Int64Kind:
			b.ProtoReflect().Set(f, protoreflect.ValueOfInt64(1))
		case protoreflect.Uint32Kind:
			b.ProtoReflect().Set(f, protoreflect.ValueOfUint32(1))
		default:
			t.Fatalf("field %s of kind %v: teach this test and sameProperties", f.Name(), f.Kind())
		}
		if sameProperties(&fsmpb.Properties{}, b) {
			t.Errorf("sameProperties ignores field %s", f.Name())
		}
	}
	u := &fsmpb.Properties{}
	u.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	if sameProperties(&fsmpb.Properties{}, u) || sameProperties(u, u) {
		t.Error("properties with unknown fields are shared")
	}
}

// TestInlinePayloadKeepsEveryField: a payload held inline gives back every
// field it was enqueued with; a field added to Payload must be kept by
// msgBody (its copy) and payloadInto too.
func TestInlinePayloadKeepsEveryField(t *testing.T) {
	if n := (&fsmpb.Payload{}).ProtoReflect().Descriptor().Fields().Len(); n != 7 {
		t.Fatalf("fsmpb.Payload has %d fields; msgBody and payloadInto know 7: update them", n)
	}
	p := &fsmpb.Payload{
		Headers: map[string]*fsmpb.Value{"h": {Kind: &fsmpb.Value_IntValue{IntValue: 1}}}, Properties: &fsmpb.Properties{Type: "t"},
		Exchange: "x", RoutingKey: "k", BodyRef: &fsmpb.BodyRef{Index: 3, Position: 1, Length: 2}, Redelivered: true,
	}
	g := NewQueueGroup()
	res := g.Apply(3, enqueue(1, []*fsmpb.QueueSpec{qspec(1, "q")}, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: p}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	m := g.queues[1].main.At(0)
	if m.ref&refInline == 0 {
		t.Fatal("not held inline")
	}
	if got := m.payload("q"); !proto.Equal(got, p) {
		t.Fatalf("payload %v, enqueued %v", got, p)
	}
}

// TestRedeliveredPayloadIsDeliveredRedelivered: a message enqueued with
// Payload.redelivered (an outbox republish that may be a duplicate) is
// delivered with Redelivered set on its first delivery, whatever form the
// queue holds it in: inline with nothing else to keep (which would
// otherwise leave no envelope at all), inline sharing an envelope with an
// unflagged message of the same exchange, key and properties, and not
// inline. The unflagged messages beside it are delivered unflagged.
func TestRedeliveredPayloadIsDeliveredRedelivered(t *testing.T) {
	const index = 3
	ref := func(pos uint32) *fsmpb.BodyRef { return &fsmpb.BodyRef{Index: index, Position: pos, Length: 1} }
	msgs := []struct {
		p    *fsmpb.Payload
		want bool
	}{
		{&fsmpb.Payload{RoutingKey: "q", BodyRef: ref(0)}, false},
		{&fsmpb.Payload{RoutingKey: "q", BodyRef: ref(1), Redelivered: true}, true},
		{&fsmpb.Payload{Exchange: "x", RoutingKey: "k", BodyRef: ref(2)}, false},
		{&fsmpb.Payload{Exchange: "x", RoutingKey: "k", BodyRef: ref(3), Redelivered: true}, true},
		{&fsmpb.Payload{Exchange: "x", RoutingKey: "k", BodyRef: ref(4)}, false},
		{&fsmpb.Payload{Body: []byte("b"), RoutingKey: "q", Redelivered: true}, true},
	}
	var ems []*fsmpb.EnqueueMessage
	for _, m := range msgs {
		ems = append(ems, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: m.p})
	}
	g := NewQueueGroup()
	if res := g.Apply(index, enqueue(1, []*fsmpb.QueueSpec{qspec(1, "q")}, ems...)); res.Err != nil {
		t.Fatal(res.Err)
	}
	res := g.Apply(index+1, checkout(qspec(1, "q"), "s", "c", 0, false))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Deliveries) != len(msgs) {
		t.Fatalf("%d deliveries, want %d", len(res.Deliveries), len(msgs))
	}
	for i, d := range res.Deliveries {
		if d.Redelivered != msgs[i].want || d.DeliveryCount != 0 {
			t.Errorf("delivery %d: redelivered %t, count %d; want %t, 0", i, d.Redelivered, d.DeliveryCount, msgs[i].want)
		}
		if !proto.Equal(d.Payload, msgs[i].p) {
			t.Errorf("delivery %d: payload %v, enqueued %v", i, d.Payload, msgs[i].p)
		}
	}
}
