package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// bodyKeeper keeps the message bodies of one queue group on disk
// (--body-store disk), in a bodystore.Store, so that the group's state,
// its snapshots' capture and the Raft log cache are what stays in memory,
// not the backlog.
//
//   - Apply: before the state sees a command, take moves each body of it
//     into the store under (entry index, position in the command) and leaves
//     a BodyRef with the body's length in the payload; the state counts
//     that length as the body's (fsm/bodies.go), so every size, limit and
//     result is what it would be with the body in place.
//   - Handing a message out: a payload reaches a client, a republish or a
//     snapshot only through fill, which reads the body back (a pread; the
//     page cache caches). Deliveries whose message left the state at
//     assignment (auto-ack, a Get without ack) and at-most-once dead
//     letters are filled under the apply lock (fillGone), because once
//     the state no longer refers to a body a snapshot may reclaim it;
//     every other payload handed out is still held by the state (an
//     unacked delivery, an outbox entry) and is filled when it is sent.
//   - Snapshot: capture serialises the state (O(index)) under the read lock
//     and deletes the segments it no longer refers to; Persist syncs the
//     store, then writes the snapshot with every body read back in, so the
//     snapshot is complete (a follower installing it needs nothing else,
//     and builds before the body store read it: they ignore the BodyRef).
//   - Restore: every body of the snapshot is put into the store (a key the
//     store has already is kept: a restart over its own store writes
//     nothing new) and dropped from the state.
//
// Writes at apply are not synced: the Raft log holds every entry up to the
// commit, the entries after the last snapshot are applied again at a
// restart (Put is idempotent), and the snapshot carries every body before
// it, so a torn or lost tail of the store loses nothing (bodystore
// recovers to its last good record).
type bodyKeeper struct {
	store  *bodystore.Store
	logger hclog.Logger
}

func bodyKey(r *fsmpb.BodyRef) bodystore.Key {
	return bodystore.Key{Index: r.GetIndex(), Position: r.GetPosition()}
}

// commandPayloads calls fn with each payload cmd carries, with its
// position among them: the messages of an Enqueue or a DelayMessages (the
// queue group's only commands with payloads).
func commandPayloads(cmd proto.Message, fn func(pos uint32, p *fsmpb.Payload)) {
	switch b := cmd.(type) {
	case *fsmpb.Enqueue:
		for i, m := range b.GetMessages() {
			if p := m.GetPayload(); p != nil {
				fn(uint32(i), p)
			}
		}
	case *fsmpb.DelayMessages:
		for i, m := range b.GetMessages() {
			if p := m.GetPayload(); p != nil {
				fn(uint32(i), p)
			}
		}
	}
}

// dropBodyRefs is what a node keeping bodies in memory does before Apply:
// a BodyRef in a log entry is none of the proposer's business (the
// adapter alone sets it), so it is cleared, and the body counts as it is.
func dropBodyRefs(_ uint64, cmd proto.Message) {
	commandPayloads(cmd, func(_ uint32, p *fsmpb.Payload) { p.BodyRef = nil })
}

// take moves the bodies of the command at index into the store. A body
// the store cannot take (a write error) stays in the payload, in memory,
// with an error logged: the state's results are the same either way.
func (k *bodyKeeper) take(index uint64, cmd proto.Message) {
	commandPayloads(cmd, func(pos uint32, p *fsmpb.Payload) {
		p.BodyRef = nil
		if len(p.GetBody()) == 0 {
			return
		}
		key := bodystore.Key{Index: index, Position: pos}
		if err := k.store.Put(key, p.GetBody()); err != nil {
			k.logger.Error("body store write failed; the body stays in memory", "index", index, "position", pos, "error", err)
			return
		}
		p.BodyRef = &fsmpb.BodyRef{Index: index, Position: pos, Length: uint32(len(p.GetBody()))}
		p.Body = nil
	})
}

// fill returns p with its body: p itself when it holds it, else a copy
// sharing everything but the body, read from the store. p is the state's
// and is not modified.
func (k *bodyKeeper) fill(p *fsmpb.Payload) (*fsmpb.Payload, error) {
	r := p.GetBodyRef()
	if r == nil || len(p.GetBody()) > 0 || r.GetLength() == 0 {
		return p, nil
	}
	body, err := k.store.Read(bodyKey(r))
	if err != nil {
		return nil, err
	}
	return withBody(p, body), nil
}

// withBody is a copy of p with body, sharing p's other fields (which
// nobody mutates). TestWithBodyCopiesEveryField keeps it complete.
func withBody(p *fsmpb.Payload, body []byte) *fsmpb.Payload {
	return &fsmpb.Payload{
		Body: body, Headers: p.Headers, Properties: p.Properties,
		Exchange: p.Exchange, RoutingKey: p.RoutingKey, BodyRef: p.BodyRef,
	}
}

// fillGone fills, in res, the payloads of messages the command removed
// from the state while handing them out: auto-ack deliveries and the Got
// of a Get without ack (when deliveries says so: only a leader sends
// deliveries), and at-most-once dead letters. It runs under the apply
// lock, before any snapshot can reclaim their bodies. A failure is logged
// and leaves the payload as it is; sending it then fails visibly.
func (k *bodyKeeper) fillGone(res *fsm.Result, deliveries bool) {
	if res.Got != nil && res.Got.AutoAck {
		k.fillInPlace(&res.Got.Payload)
	}
	if !deliveries {
		return
	}
	for i := range res.Deliveries {
		if res.Deliveries[i].AutoAck {
			k.fillInPlace(&res.Deliveries[i].Payload)
		}
	}
	for i := range res.DeadLetters {
		if res.DeadLetters[i].OutboxID == 0 {
			k.fillInPlace(&res.DeadLetters[i].Payload)
		}
	}
}

func (k *bodyKeeper) fillInPlace(p **fsmpb.Payload) {
	filled, err := k.fill(*p)
	if err != nil {
		k.logger.Error("body store read failed", "error", err)
		return
	}
	*p = filled
}

// capture is the queue group's raft.FSM Snapshot in disk mode, under the
// state's read lock: the state without bodies, serialised, and the
// segments no message refers to any more, deleted.
func (k *bodyKeeper) capture(g *fsm.QueueGroup) (raft.FSMSnapshot, error) {
	var buf bytes.Buffer
	if err := g.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	n, err := k.store.Collect(func(yield func(bodystore.Key)) {
		g.VisitBodyRefs(func(r *fsmpb.BodyRef) { yield(bodyKey(r)) })
	})
	if err != nil {
		k.logger.Warn("body store: deleting unreferenced segments failed", "error", err)
	} else if n > 0 {
		k.logger.Debug("body store: deleted unreferenced segments", "segments", n)
	}
	return &filledSnapshot{index: buf.Bytes(), keeper: k}, nil
}

// filledSnapshot is a captured state without bodies; Persist writes it
// with them.
type filledSnapshot struct {
	index  []byte
	keeper *bodyKeeper
}

// Persist syncs the body store (a reopen then trusts what the snapshot
// refers to), then writes the snapshot, reading each body back in: memory
// O(index) for the decoded copy, plus one body at a time.
func (s *filledSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.keeper.store.Sync()
	if err == nil {
		var g *fsm.QueueGroup
		if g, err = fsm.RestoreQueueGroup(bytes.NewReader(s.index)); err == nil {
			err = g.WriteSnapshotFilled(sink, s.keeper.fill)
		}
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *filledSnapshot) Release() {}

// errSnapshotBody is wrapped by the errors of a snapshot whose body
// references do not fit its bodies.
var errSnapshotBody = errors.New("snapshot body does not fit its reference")

// restore reads a snapshot in disk mode, moving every body it carries into
// the store. A payload without a BodyRef (a snapshot of a node keeping
// bodies in memory) keeps its body in the state.
func (k *bodyKeeper) restore(r io.Reader) (*fsm.QueueGroup, error) {
	return fsm.RestoreQueueGroupTaking(r, func(p *fsmpb.Payload) error {
		ref := p.GetBodyRef()
		switch {
		case ref == nil:
			return nil
		case len(p.GetBody()) == 0:
			if ref.GetLength() != 0 && !k.store.Has(bodyKey(ref)) {
				return fmt.Errorf("%w: no body for index %d position %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition())
			}
			if ref.GetLength() == 0 {
				p.BodyRef = nil
			}
			return nil
		case uint64(len(p.GetBody())) != uint64(ref.GetLength()):
			return fmt.Errorf("%w: index %d position %d: %d bytes, reference says %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition(), len(p.GetBody()), ref.GetLength())
		}
		if err := k.store.Put(bodyKey(ref), p.GetBody()); err != nil {
			return err
		}
		p.Body = nil
		return nil
	})
}

// restoreInMemory reads a snapshot on a node keeping bodies in memory:
// a snapshot of a disk node carries each body beside its BodyRef, which is
// dropped.
func restoreInMemory(r io.Reader) (*fsm.QueueGroup, error) {
	return fsm.RestoreQueueGroupTaking(r, func(p *fsmpb.Payload) error {
		if ref := p.GetBodyRef(); ref != nil {
			if uint64(len(p.GetBody())) != uint64(ref.GetLength()) {
				return fmt.Errorf("%w: index %d position %d: %d bytes, reference says %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition(), len(p.GetBody()), ref.GetLength())
			}
			p.BodyRef = nil
		}
		return nil
	})
}
