package fsm

import (
	"fmt"
	"io"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// Bodies kept outside the state. A node may keep message bodies in a body
// store of its own (broker/bodystore) rather than in the state: its state
// machine adapter then moves each body of a command out before Apply and
// leaves in the payload a BodyRef (the entry's Raft index, the body's
// position in the entry, its length). The state treats such a payload as
// one with a body of that length: sizes, limits and every result are those
// of the same command with the body in place, so the queue semantics do not
// depend on where bodies live. Everything here is pure; the I/O is the
// caller's, through the functions it passes.

// bodyLen is the length of p's body: the body itself when present, else the
// length its BodyRef records.
func bodyLen(p *fsmpb.Payload) uint64 {
	if b := p.GetBody(); len(b) > 0 {
		return uint64(len(b))
	}
	return uint64(p.GetBodyRef().GetLength())
}

// VisitBodyRefs calls fn with the BodyRef of every payload the state holds
// whose body it does not (ready, delivered and got messages, the outbox
// and the delayed messages), in no defined order: it is for the body
// store's garbage collection, which only counts. A payload held by several
// queues is visited once per queue. fn must not keep r, which may be
// reused for the next call (a queued message holds its reference inline,
// not as a BodyRef). Read-only, like WriteSnapshot.
func (g *QueueGroup) VisitBodyRefs(fn func(r *fsmpb.BodyRef)) {
	g.capture(false).VisitBodyRefs(fn)
}

// WriteSnapshotFilled is WriteSnapshot with each payload written as fill
// returns it: the adapter of a body store reads the body back into a copy
// of the payload, so the snapshot is complete (a follower that installs it
// needs no store of the leader's). fill must not modify its argument, which
// the state holds. The first error of fill ends the snapshot with it.
func (g *QueueGroup) WriteSnapshotFilled(w io.Writer, fill func(*fsmpb.Payload) (*fsmpb.Payload, error)) error {
	return g.capture(false).WriteSnapshotFilled(w, fill)
}

// RestoreQueueGroupTaking is RestoreQueueGroup that hands take every
// payload it reads, once its record passed validation, before the state
// keeps it: the adapter of a body store moves the body into the store
// there, leaving the BodyRef. take may modify the payload (it is the
// restore's own). The first error of take ends the restore with it.
func RestoreQueueGroupTaking(r io.Reader, take func(*fsmpb.Payload) error) (*QueueGroup, error) {
	return restoreQueueGroup(r, take)
}

// CompleteSnapshot copies the snapshot r (as WriteSnapshot wrote it) to w
// with each payload replaced by what fill returns, record by record:
// memory O(one record), whatever the snapshot's size. A node keeping
// bodies outside the state persists its snapshots without them (O(index))
// and completes one this way when it is read (restored, or sent to a
// follower, which needs nothing but the stream). fill must give the same
// lengths on every call for the same payload (the size of the result is
// computed by a first pass). The CRC of r is checked at its end; w gets a
// CRC of its own.
func CompleteSnapshot(w io.Writer, r io.Reader, fill func(*fsmpb.Payload) (*fsmpb.Payload, error)) error {
	qr := newQsReader(r)
	sw := newQsWriter(w)
	t, body, err := qr.next()
	if err != nil {
		return err
	}
	if t != qsHeader {
		return fmt.Errorf("%w: first record has type %d, want the header", errSnapshot, t)
	}
	d := qsDec{b: body}
	if magic := string(d.rawN(len(qsMagic))); d.err == nil && magic != qsMagic {
		return fmt.Errorf("%w: not a queue group snapshot", errSnapshot)
	}
	v3 := d.uvarint() == qsVersionFeatures
	if d.err != nil {
		return d.err
	}
	sw.record(t, body)
	var e qsEnc
	for {
		t, body, err := qr.next()
		if err != nil {
			return err
		}
		if t == qsTrailer {
			return sw.finish()
		}
		d := qsDec{b: body}
		withPayload := true
		switch t {
		case qsReady:
			withPayload = qsSkipMsgHead(&d)
		case qsDelivery:
			d.uvarint()
			if v3 {
				d.varint()
			}
			withPayload = qsSkipMsgHead(&d)
		case qsGet:
			d.uvarint()
			d.varint()
			withPayload = qsSkipMsgHead(&d)
		case qsDeadLetter:
			d.uvarint()
			d.uvarint()
			d.str()
			d.str()
			d.str()
			d.str()
			d.uvarint()
		case qsDelayed:
			d.uvarint()
			d.varint()
			d.str()
		default:
			withPayload = false
		}
		if d.err != nil {
			return d.err
		}
		if !withPayload {
			sw.record(t, body)
			continue
		}
		head := body[:len(body)-len(d.b)]
		p := &fsmpb.Payload{}
		d.proto(p)
		if err := d.end(); err != nil {
			return err
		}
		filled, err := fill(p)
		if err != nil {
			return err
		}
		e.reset()
		e.raw(head)
		if err := e.proto(filled); err != nil {
			return err
		}
		sw.record(t, e.b)
	}
}

// qsSkipMsgHead reads a message's fields up to its payload and reports
// whether one follows.
func qsSkipMsgHead(d *qsDec) bool {
	d.uvarint()
	d.uvarint()
	d.varint()
	d.uvarint()
	d.uvarint()
	return d.boolean()
}
