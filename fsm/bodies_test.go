package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
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
