package fsm

import (
	"fmt"
	"io"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// Queue group snapshot, format versions 1 and 2. Records, in this order
// (framing in snapshot_codec.go; every integer a uvarint unless marked
// varint):
//
//	header      magic "WQGS", version, last index, last now (varint), then the
//	            number of tombstone, producer, queue, ready-message, consumer,
//	            consumer-delivery, get-holder and get records that follow
//	tombstone*  queue id                                   (increasing)
//	producer*   id, highest seq, last index, 64 fixed64 bitmap words
//	                                                       (by producer id)
//	then per queue, by id:
//	  queue     spec (proto), next message id, #returns, #main, #consumers,
//	            #get-holders
//	  ready*    message: returns in order, then the main FIFO in order
//	  per consumer, in service order:
//	    consumer  session, tag, prefetch, auto-ack, next tag, #deliveries
//	    delivery* tag, message                             (by tag)
//	  per get-holder, by session:
//	    holder    session, next tag, #gets
//	    get*      tag, lease (varint), message             (by tag)
//	trailer     CRC-32
//
// A message is: id, Raft index, expiry (varint), size, delivery count,
// has-payload, [payload (proto)]. Only auto-ack deliveries lack a payload. A
// payload shared by several queues is written once per queue; a restored
// state keeps one copy per queue, which changes no result.
//
// The versions differ only in what a message's size may be. In version 1
// it is its body's length (every Enqueue was SIZE_RULE_BODY); in version 2
// it is that or MessageSize of its payload, whichever rule the message was
// enqueued under. The size is stored, not recomputed on restore: it was
// fixed by the entry that enqueued the message, and a restored replica
// must count exactly the ready bytes of a replica that applied the log,
// whatever rules the entries used. A group writes version 2 only once it
// has applied a SIZE_RULE_WITH_HEADERS Enqueue (QueueGroup.sizeRule), so
// until every voter knows the rule (and the broker starts using it) its
// snapshots stay readable by the builds before it; restoring either
// version gives back the version it was written in.

// Record types. Persisted: never renumber.
const (
	qsHeader    byte = 1
	qsTombstone byte = 2
	qsProducer  byte = 3
	qsQueue     byte = 4
	qsReady     byte = 5
	qsConsumer  byte = 6
	qsDelivery  byte = 7
	qsHolder    byte = 8
	qsGet       byte = 9
)

const (
	qsMagic = "WQGS"
	// qsVersionBodySize: every message's size is its body's length.
	qsVersionBodySize = 1
	// qsVersionSizeRule: a message's size is its body's length or its
	// MessageSize.
	qsVersionSizeRule = 2
	// qsVersionFeatures: version 2, and the queue record ends with the
	// queue's last use (varint, x-expires), the consumer record with its
	// priority and timeout (varints), a delivery record has its assignment
	// time (varint) after the tag.
	qsVersionFeatures = 3
)

// snapshotVersion is the format version g writes: the oldest that holds
// its state.
func (g *QueueGroup) snapshotVersion() uint64 {
	if g.features {
		return qsVersionFeatures
	}
	if g.sizeRule >= fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS {
		return qsVersionSizeRule
	}
	return qsVersionBodySize
}

// qsCounts are the header's record counts.
type qsCounts struct {
	tombstones, producers, queues, ready, consumers, deliveries, holders, gets uint64
}

func (c *qsCounts) list() []*uint64 {
	return []*uint64{&c.tombstones, &c.producers, &c.queues, &c.ready, &c.consumers, &c.deliveries, &c.holders, &c.gets}
}

// WriteSnapshot writes the whole state to w in the format above. Equal states
// give equal bytes: nothing depends on map order. It does not modify the
// state, but the caller must not Apply concurrently (Capture gives a view
// that may be written while the group applies).
func (g *QueueGroup) WriteSnapshot(w io.Writer) error {
	return g.capture(false).WriteSnapshot(w)
}

func (s *QueueGroupSnapshot) write(sw *qsWriter) error {
	s.sort()
	var n qsCounts
	n.tombstones = uint64(len(s.tombstones))
	n.producers = uint64(len(s.producers))
	n.queues = uint64(len(s.queues))
	for i := range s.queues {
		q := &s.queues[i]
		for j := range q.ready {
			n.ready += uint64(q.ready[j].Len())
		}
		n.consumers += uint64(len(q.consumers))
		n.holders += uint64(len(q.holders))
		for _, c := range q.consumers {
			n.deliveries += uint64(len(c.out))
		}
		for _, h := range q.holders {
			n.gets += uint64(len(h.out))
		}
	}

	var e qsEnc
	e.raw([]byte(qsMagic))
	e.uvarint(s.version)
	e.uvarint(s.lastIndex)
	e.varint(s.lastNow)
	for _, v := range n.list() {
		e.uvarint(*v)
	}
	sw.record(qsHeader, e.b)

	for _, id := range s.tombstones {
		e.reset()
		e.uvarint(id)
		sw.record(qsTombstone, e.b)
	}
	for i := range s.producers {
		p := &s.producers[i]
		e.reset()
		e.str(p.id)
		e.uvarint(p.hi)
		e.uvarint(p.lastIndex)
		for _, word := range p.bits {
			e.fixed64(word)
		}
		sw.record(qsProducer, e.b)
	}
	for i := range s.queues {
		if err := qsWriteQueue(sw, &e, &s.queues[i], s.features); err != nil {
			return err
		}
	}
	if err := s.writeOutbox(sw, &e); err != nil {
		return err
	}
	return sw.finish()
}

func qsWriteQueue(sw *qsWriter, e *qsEnc, q *queueView, v3 bool) error {
	e.reset()
	if err := e.proto(q.spec); err != nil {
		return err
	}
	e.uvarint(q.nextMsgID)
	ds := q.ready
	var nRet, nMain int
	for i := range ds {
		if i%2 == 0 {
			nRet += ds[i].Len()
		} else {
			nMain += ds[i].Len()
		}
	}
	e.uvarint(uint64(nRet))
	e.uvarint(uint64(nMain))
	e.uvarint(uint64(len(q.consumers)))
	e.uvarint(uint64(len(q.holders)))
	if v3 {
		e.varint(q.usedAt)
	}
	sw.record(qsQueue, e.b)

	// Every returns list (of each level, from the highest), then every
	// main FIFO: a restore puts each message back at its level.
	for _, first := range []int{0, 1} {
		for j := first; j < len(ds); j += 2 {
			d := &ds[j]
			for i := range d.Len() {
				m := d.At(i)
				e.reset()
				if err := qsEncodeMsg(sw, e, &m, q.spec.GetName()); err != nil {
					return err
				}
				sw.record(qsReady, e.b)
			}
		}
	}
	for _, c := range q.consumers {
		e.reset()
		e.str(c.session)
		e.str(c.tag)
		e.uvarint(uint64(c.prefetch))
		e.boolean(c.autoAck)
		e.uvarint(c.nextTag)
		e.uvarint(uint64(len(c.out)))
		if v3 {
			e.varint(int64(c.priority))
			e.varint(c.timeoutMs)
		}
		sw.record(qsConsumer, e.b)
		for i := range c.out {
			t, m := c.out[i].tag, &c.out[i].m
			e.reset()
			e.uvarint(t)
			if v3 {
				e.varint(m.outAt)
			}
			if err := qsEncodeMsg(sw, e, &m.queueMsg, q.spec.GetName()); err != nil {
				return err
			}
			sw.record(qsDelivery, e.b)
		}
	}
	for _, h := range q.holders {
		e.reset()
		e.str(h.session)
		e.uvarint(h.nextTag)
		e.uvarint(uint64(len(h.out)))
		sw.record(qsHolder, e.b)
		for i := range h.out {
			t, g := h.out[i].tag, &h.out[i].g
			e.reset()
			e.uvarint(t)
			e.varint(g.lease)
			if err := qsEncodeMsg(sw, e, &g.msg, q.spec.GetName()); err != nil {
				return err
			}
			sw.record(qsGet, e.b)
		}
	}
	return sw.err
}

// qsEncodeMsg writes m, a message of the queue named name.
func qsEncodeMsg(sw *qsWriter, e *qsEnc, m *queueMsg, name string) error {
	e.uvarint(m.id)
	e.uvarint(m.index)
	e.varint(m.expiry)
	e.uvarint(uint64(m.size))
	e.uvarint(uint64(m.count))
	p, err := sw.payload(m.payloadInto(name, &sw.inline, &sw.inlineRef))
	if err != nil {
		return err
	}
	e.boolean(p != nil)
	if p != nil {
		return e.proto(p)
	}
	return nil
}

// RestoreQueueGroup reads a snapshot written by WriteSnapshot into a new
// QueueGroup. Any input that is not a complete, consistent snapshot (bad
// framing, CRC, counts, order, references or values) is an error wrapping an
// internal "corrupt queue group snapshot" error; it never panics, and memory
// grows with the bytes actually read, not with lengths or counts claimed.
func RestoreQueueGroup(r io.Reader) (*QueueGroup, error) {
	return restoreQueueGroup(r, nil)
}

func restoreQueueGroup(r io.Reader, take func(*fsmpb.Payload) error) (*QueueGroup, error) {
	qr := newQsReader(r)
	t, body, err := qr.next()
	if err != nil {
		return nil, err
	}
	if t != qsHeader {
		return nil, fmt.Errorf("%w: first record has type %d, want the header", errSnapshot, t)
	}
	g := NewQueueGroup()
	d := qsDec{b: body}
	if magic := string(d.rawN(len(qsMagic))); d.err == nil && magic != qsMagic {
		return nil, fmt.Errorf("%w: not a queue group snapshot", errSnapshot)
	}
	version := d.uvarint()
	switch {
	case d.err != nil:
	case version == qsVersionBodySize:
	case version == qsVersionSizeRule:
		g.sizeRule = fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS
	case version == qsVersionFeatures:
		g.sizeRule = fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS
		g.features = true
	default:
		return nil, fmt.Errorf("%w: format version %d, this build reads %d to %d", errSnapshot, version, qsVersionBodySize, qsVersionFeatures)
	}
	g.lastIndex = d.uvarint()
	g.lastNow = d.varint()
	var want qsCounts
	for _, v := range want.list() {
		*v = d.uvarint()
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if want.producers > DedupMaxProducers {
		return nil, fmt.Errorf("%w: %d producers", errSnapshot, want.producers)
	}

	rs := &qsRestore{g: g, r: qr, take: take}
	if err := rs.run(want); err != nil {
		return nil, err
	}
	t, body, err = qr.next()
	if err == nil && t == qsOutbox {
		if err := rs.readOutbox(body); err != nil {
			return nil, err
		}
		t, _, err = qr.next()
	}
	if err != nil {
		return nil, err
	} else if t != qsTrailer {
		return nil, fmt.Errorf("%w: record of type %d after the last queue", errSnapshot, t)
	}
	if rs.got != want {
		return nil, fmt.Errorf("%w: header counts %+v, found %+v", errSnapshot, want, rs.got)
	}
	return g, nil
}
