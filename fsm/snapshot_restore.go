package fsm

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// qsRestore decodes the records after the header into g, validating as it
// goes. Every loop reads one record per iteration, so a huge claimed count
// ends at the end of the input rather than in a huge allocation.
type qsRestore struct {
	g   *QueueGroup
	r   *qsReader
	got qsCounts
	// take, if set, sees every payload read (RestoreQueueGroupTaking).
	take func(*fsmpb.Payload) error
}

// takeBody hands p to the restore's take, if any.
func (rs *qsRestore) takeBody(p *fsmpb.Payload) error {
	if rs.take == nil {
		return nil
	}
	return rs.take(p)
}

// expect reads the next record and requires type t.
func (rs *qsRestore) expect(t byte) (*qsDec, error) {
	got, body, err := rs.r.next()
	if err != nil {
		return nil, err
	}
	if got != t {
		return nil, fmt.Errorf("%w: record of type %d where type %d belongs", errSnapshot, got, t)
	}
	return &qsDec{b: body}, nil
}

func qsCorrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errSnapshot}, args...)...)
}

func (rs *qsRestore) run(want qsCounts) error {
	g := rs.g
	var prevID uint64
	for range want.tombstones {
		d, err := rs.expect(qsTombstone)
		if err != nil {
			return err
		}
		id := d.uvarint()
		if err := d.end(); err != nil {
			return err
		}
		if id <= prevID {
			return qsCorrupt("tombstone %d after %d", id, prevID)
		}
		g.tombstones[id] = struct{}{}
		prevID = id
		rs.got.tombstones++
	}
	prevProducer := ""
	for i := range want.producers {
		d, err := rs.expect(qsProducer)
		if err != nil {
			return err
		}
		p := &dedupProducer{id: d.str(), hi: d.uvarint(), lastIndex: d.uvarint()}
		for w := range p.bits {
			p.bits[w] = d.fixed64()
		}
		if err := d.end(); err != nil {
			return err
		}
		if p.id == "" || (i > 0 && p.id <= prevProducer) {
			return qsCorrupt("producer %q after %q", p.id, prevProducer)
		}
		prevProducer = p.id
		g.dedup.insert(p)
		rs.got.producers++
	}
	prevID = 0
	for range want.queues {
		if err := rs.queue(&prevID); err != nil {
			return err
		}
	}
	return nil
}

func (rs *qsRestore) queue(prevID *uint64) error {
	g := rs.g
	d, err := rs.expect(qsQueue)
	if err != nil {
		return err
	}
	spec := &fsmpb.QueueSpec{}
	d.proto(spec)
	nextID := d.uvarint()
	nRet, nMain, nCons, nHold := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
	var usedAt int64
	if g.features {
		usedAt = d.varint()
	}
	if err := d.end(); err != nil {
		return err
	}
	if nRet+nMain < nRet {
		return qsCorrupt("queue claims %d returns and %d main messages", nRet, nMain)
	}
	id := spec.GetId()
	if id == 0 || id <= *prevID {
		return qsCorrupt("queue %d after %d", id, *prevID)
	}
	if _, gone := g.tombstones[id]; gone {
		return qsCorrupt("queue %d is also tombstoned", id)
	}
	*prevID = id
	rs.got.queues++
	if usedAt < 0 {
		return qsCorrupt("queue %d used at %d", id, usedAt)
	}
	q := newQueueState(spec)
	q.nextMsgID = nextID
	q.usedAt = usedAt

	for i := range nRet + nMain {
		d, err := rs.expect(qsReady)
		if err != nil {
			return err
		}
		m, err := rs.decodeMsg(d, q, true)
		if err != nil {
			return err
		}
		if i < nRet {
			q.pushReturn(m)
		} else {
			q.pushMain(m)
		}
		rs.got.ready++
	}
	for range nCons {
		if err := rs.consumer(q); err != nil {
			return err
		}
	}
	prevSession := ""
	for i := range nHold {
		if err := rs.holder(q, i > 0, &prevSession); err != nil {
			return err
		}
	}
	if spec.GetSingleActiveConsumer() {
		q.active = q.pickActive()
	}
	g.queues[id] = q
	for _, c := range q.serviceOrder() {
		g.addSessionRef(c.session, id, c.tag)
	}
	for s := range q.gets {
		g.addSessionRef(s, id, "")
	}
	return nil
}

func (rs *qsRestore) consumer(q *queueState) error {
	d, err := rs.expect(qsConsumer)
	if err != nil {
		return err
	}
	c := &queueConsumer{session: d.str(), tag: d.str(), out: make(map[uint64]outMsg)}
	prefetch := d.uvarint()
	c.autoAck = d.boolean()
	c.nextTag = d.uvarint()
	nOut := d.uvarint()
	var priority int64
	if rs.g.features {
		priority, c.timeoutMs = d.varint(), d.varint()
	}
	if err := d.end(); err != nil {
		return err
	}
	key := consumerKey{c.session, c.tag}
	switch {
	case c.session == "" || c.tag == "":
		return qsCorrupt("consumer %q of session %q", c.tag, c.session)
	case q.consumers[key] != nil:
		return qsCorrupt("consumer %q of session %q twice", c.tag, c.session)
	case prefetch > math.MaxUint32:
		return qsCorrupt("prefetch %d", prefetch)
	case c.nextTag == 0:
		return qsCorrupt("next tag 0")
	case prefetch > 0 && nOut > prefetch:
		return qsCorrupt("%d deliveries over prefetch %d", nOut, prefetch)
	case priority < math.MinInt32 || priority > math.MaxInt32 || c.timeoutMs < 0:
		return qsCorrupt("consumer priority %d, timeout %d", priority, c.timeoutMs)
	}
	c.priority = int32(priority)
	c.prefetch = uint32(prefetch)
	rs.got.consumers++
	var prevTag uint64
	for range nOut {
		d, err := rs.expect(qsDelivery)
		if err != nil {
			return err
		}
		tag := d.uvarint()
		var outAt int64
		if rs.g.features {
			outAt = d.varint()
		}
		m, err := rs.decodeMsg(d, q, !c.autoAck)
		if err != nil {
			return err
		}
		if outAt < 0 {
			return qsCorrupt("delivery %d assigned at %d", tag, outAt)
		}
		if tag <= prevTag || tag >= c.nextTag {
			return qsCorrupt("delivery tag %d (previous %d, next %d)", tag, prevTag, c.nextTag)
		}
		prevTag = tag
		c.out[tag] = outMsg{m, outAt}
		if !c.autoAck {
			q.unacked++
		}
		rs.got.deliveries++
	}
	c.low = c.nextTag
	if len(c.out) > 0 {
		c.low = slices.Min(slices.Collect(maps.Keys(c.out)))
	}
	q.consumers[key] = c
	q.appendConsumer(c)
	return nil
}

func (rs *qsRestore) holder(q *queueState, notFirst bool, prevSession *string) error {
	d, err := rs.expect(qsHolder)
	if err != nil {
		return err
	}
	h := &queueGetHolder{session: d.str(), out: make(map[uint64]getEntry)}
	h.nextTag = d.uvarint()
	nOut := d.uvarint()
	if err := d.end(); err != nil {
		return err
	}
	if h.session == "" || (notFirst && h.session <= *prevSession) || h.nextTag == 0 {
		return qsCorrupt("get-holder %q (previous %q, next tag %d)", h.session, *prevSession, h.nextTag)
	}
	*prevSession = h.session
	rs.got.holders++
	var prevTag uint64
	for range nOut {
		d, err := rs.expect(qsGet)
		if err != nil {
			return err
		}
		tag := d.uvarint()
		lease := d.varint()
		m, err := rs.decodeMsg(d, q, true)
		if err != nil {
			return err
		}
		if tag <= prevTag || tag >= h.nextTag || lease < 0 {
			return qsCorrupt("get tag %d (previous %d, next %d), lease %d", tag, prevTag, h.nextTag, lease)
		}
		prevTag = tag
		h.out[tag] = getEntry{msg: m, lease: lease}
		q.unacked++
		rs.got.gets++
	}
	q.gets[h.session] = h
	return nil
}

// decodeMsg reads a message record (the rest of d) and validates it against
// q. wantBody says whether the record must carry a payload (all but auto-ack
// deliveries) or must not. The size must be one the snapshot's version
// allows (sizeFits).
func (rs *qsRestore) decodeMsg(d *qsDec, q *queueState, wantBody bool) (queueMsg, error) {
	m := queueMsg{id: d.uvarint(), index: d.uvarint(), expiry: d.varint()}
	size, count := d.uvarint(), d.uvarint()
	var p *fsmpb.Payload
	if d.boolean() {
		p = &fsmpb.Payload{}
		d.proto(p)
	}
	if err := d.end(); err != nil {
		return m, err
	}
	switch {
	case m.id >= q.nextMsgID:
		return m, qsCorrupt("message %d of queue %d, next id %d", m.id, q.spec.GetId(), q.nextMsgID)
	case size > math.MaxUint32 || count > math.MaxUint32 || m.expiry < 0:
		return m, qsCorrupt("message %d: size %d, count %d, expiry %d", m.id, size, count, m.expiry)
	case (p != nil) != wantBody:
		return m, qsCorrupt("message %d: payload present %t, want %t", m.id, p != nil, wantBody)
	case p != nil && !sizeFits(rs.g.sizeRule, p, size):
		return m, qsCorrupt("message %d: size %d, body %d bytes (snapshot version %d)",
			m.id, size, bodyLen(p), rs.g.snapshotVersion())
	}
	m.size, m.count = uint32(size), uint32(count)
	if p != nil {
		if err := rs.takeBody(p); err != nil {
			return m, err
		}
		// Held as an Enqueue holds it: inline when take left a reference
		// to the message's own entry.
		b := newMsgBody(p, m.index)
		b.set(&m, q)
	}
	return m, nil
}

// sizeFits reports whether size is one a message with payload p can have in
// a group whose newest size rule is rule: the size under SIZE_RULE_BODY, or
// under any rule up to rule (which message came under which is not
// recorded; either is consistent).
func sizeFits(rule fsmpb.SizeRule, p *fsmpb.Payload, size uint64) bool {
	if size == uint64(sizeOf(fsmpb.SizeRule_SIZE_RULE_BODY, p)) {
		return true
	}
	return rule >= fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS && size == uint64(sizeOf(fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS, p))
}
