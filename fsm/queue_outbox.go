package fsm

import (
	"fmt"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// The dead-letter outbox: at-least-once dead-lettering (RabbitMQ quorum
// queues' x-dead-letter-strategy at-least-once). A message a queue with
// that strategy discards leaves the queue's ready and checked-out
// messages, as any discard, but stays in its group's outbox until the
// leader has published it to the dead-letter exchange, seen the publish
// commit in every target, and proposed SettleDeadLetters. A leader that
// dies in between leaves the outbox in the state: the next leader
// publishes it again, so a dead letter whose publish committed but whose
// settle was lost reaches its target twice (at least once). Outbox entries
// count toward their queue's
// max-length and max-length-bytes, as RabbitMQ counts messages waiting for
// dead-lettering, so that a dead-letter target that takes nothing makes the
// source reject publishes (the strategy needs overflow reject-publish)
// rather than grow without bound. Dropping the queue drops its entries.

// outboxEntry is one dead letter waiting for its publish to commit.
type outboxEntry struct {
	id uint64
	dl DeadLetter
	// size is what the entry counts toward its queue's ready bytes.
	size uint64
}

// holdDeadLetters moves the dead letters of at-least-once queues that this
// command produced into the outbox, giving each an id (in the order of
// res.DeadLetters, so alike on every replica).
func (g *QueueGroup) holdDeadLetters(res *Result) {
	for i := range res.DeadLetters {
		dl := &res.DeadLetters[i]
		q := g.queues[dl.QueueID]
		if q == nil || q.spec.GetDeadLetterStrategy() != fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE {
			continue
		}
		g.nextOutboxID++
		dl.OutboxID = g.nextOutboxID
		e := &outboxEntry{id: dl.OutboxID, dl: *dl, size: dl.size}
		g.addOutbox(q, e)
		res.Outboxed++
	}
}

// addOutbox adds e, a dead letter of q or (q nil) a delayed message.
func (g *QueueGroup) addOutbox(q *queueState, e *outboxEntry) {
	if g.outbox == nil {
		g.outbox = map[uint64]*outboxEntry{}
	}
	g.outbox[e.id] = e
	if q == nil {
		return
	}
	if q.outbox == nil {
		q.outbox = map[uint64]struct{}{}
	}
	q.outbox[e.id] = struct{}{}
	q.outboxBytes += e.size
}

// applySettleDeadLetters removes published dead letters from the outbox.
func (g *QueueGroup) applySettleDeadLetters(b *fsmpb.SettleDeadLetters, res *Result) {
	if n := len(b.GetIds()); n > MaxSettleDeadLetters {
		res.Err = fmt.Errorf("%w: settle dead letters lists %d ids; the limit is %d", ErrInvalid, n, MaxSettleDeadLetters)
		return
	}
	for _, id := range b.GetIds() {
		e, ok := g.outbox[id]
		if !ok {
			continue
		}
		delete(g.outbox, id)
		if q := g.queues[e.dl.QueueID]; q != nil {
			delete(q.outbox, id)
			q.outboxBytes -= e.size
		}
		res.Count++
	}
}

// MaxSettleDeadLetters bounds the ids of one SettleDeadLetters.
const MaxSettleDeadLetters = 10000

// dropOutbox removes the outbox entries of a dropped queue.
func (g *QueueGroup) dropOutbox(q *queueState) {
	for id := range q.outbox {
		delete(g.outbox, id)
	}
	q.outbox, q.outboxBytes = nil, 0
}

// Outbox returns the dead letters waiting in the outbox, by id: what a new
// leader publishes.
func (g *QueueGroup) Outbox() []DeadLetter {
	ids := make([]uint64, 0, len(g.outbox))
	for id := range g.outbox {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]DeadLetter, 0, len(ids))
	for _, id := range ids {
		out = append(out, g.outbox[id].dl)
	}
	return out
}

// OutboxLen is the number of dead letters waiting in the outbox.
func (g *QueueGroup) OutboxLen() int { return len(g.outbox) }

// LastOutboxID is the id of the last dead letter the outbox took (ids
// increase from 1; 0: none yet). A new leader takes every entry up to it
// for one an earlier leader may have published.
func (g *QueueGroup) LastOutboxID() uint64 { return g.nextOutboxID }

// Snapshot section (after the last queue, before the trailer; written only
// once an outbox was used, so a group that never dead-lettered at least
// once writes what builds before it read, and those refuse one that did:
// "record of type 40 after the last queue"):
//
//	outbox       next outbox id, #entries, next delay id, #delayed
//	dead-letter* id, queue id (0: a delayed message), vhost, reason,
//	             exchange, routing key, size, payload (proto)   (by id)
//	delayed*     id, due (varint), vhost, payload (proto)    (by due, id)
const (
	qsOutbox     byte = 40
	qsDeadLetter byte = 41
	qsDelayed    byte = 42
)

func (s *QueueGroupSnapshot) writeOutbox(sw *qsWriter, e *qsEnc) error {
	if s.nextOutboxID == 0 && s.nextDelayID == 0 {
		return nil
	}
	e.reset()
	e.uvarint(s.nextOutboxID)
	e.uvarint(uint64(len(s.outbox)))
	e.uvarint(s.nextDelayID)
	e.uvarint(uint64(len(s.delayed)))
	sw.record(qsOutbox, e.b)
	for i := range s.outbox {
		o := &s.outbox[i]
		dl := &o.dl
		e.reset()
		e.uvarint(o.id)
		e.uvarint(dl.QueueID)
		e.str(dl.VHost)
		e.str(dl.Reason)
		e.str(dl.Exchange)
		e.str(dl.RoutingKey)
		e.uvarint(o.size)
		p, err := sw.payload(dl.Payload)
		if err != nil {
			return err
		}
		if err := e.proto(p); err != nil {
			return err
		}
		sw.record(qsDeadLetter, e.b)
	}
	for _, d := range s.delayed {
		e.reset()
		e.uvarint(d.id)
		e.varint(d.due)
		e.str(d.vhost)
		p, err := sw.payload(d.body)
		if err != nil {
			return err
		}
		if err := e.proto(p); err != nil {
			return err
		}
		sw.record(qsDelayed, e.b)
	}
	return sw.err
}

// readOutbox restores the outbox section whose first record body is body.
func (rs *qsRestore) readOutbox(body []byte) error {
	g := rs.g
	d := &qsDec{b: body}
	g.nextOutboxID = d.uvarint()
	n := d.uvarint()
	g.nextDelayID = d.uvarint()
	nDelayed := d.uvarint()
	if err := d.end(); err != nil {
		return err
	}
	var prev uint64
	for range n {
		d, err := rs.expect(qsDeadLetter)
		if err != nil {
			return err
		}
		id, qid := d.uvarint(), d.uvarint()
		vhost, reason, ex, key := d.str(), d.str(), d.str(), d.str()
		size := d.uvarint()
		p := &fsmpb.Payload{}
		d.proto(p)
		if err := d.end(); err != nil {
			return err
		}
		if err := rs.takeBody(p); err != nil {
			return err
		}
		if id <= prev || id > g.nextOutboxID {
			return qsCorrupt("dead letter %d after %d (next id %d)", id, prev, g.nextOutboxID)
		}
		prev = id
		if qid == 0 {
			// A delayed message now due.
			g.addOutbox(nil, &outboxEntry{id: id, dl: DeadLetter{
				VHost: vhost, Exchange: ex, RoutingKey: key, Payload: p, OutboxID: id, Delayed: true,
			}})
			continue
		}
		q := g.queues[qid]
		if q == nil {
			return qsCorrupt("dead letter %d of missing queue %d", id, qid)
		}
		g.addOutbox(q, &outboxEntry{id: id, size: size, dl: DeadLetter{
			VHost: vhost, Exchange: ex, RoutingKey: key, Reason: reason, Queue: q.spec.GetName(),
			QueueID: qid, Payload: p, OutboxID: id, size: size,
		}})
	}
	var prevDue int64
	var prevID uint64
	for i := range nDelayed {
		d, err := rs.expect(qsDelayed)
		if err != nil {
			return err
		}
		id, due, vhost := d.uvarint(), d.varint(), d.str()
		p := &fsmpb.Payload{}
		d.proto(p)
		if err := d.end(); err != nil {
			return err
		}
		if err := rs.takeBody(p); err != nil {
			return err
		}
		if id == 0 || id > g.nextDelayID || (i > 0 && (due < prevDue || (due == prevDue && id <= prevID))) {
			return qsCorrupt("delayed message %d due %d after %d due %d (next id %d)", id, due, prevID, prevDue, g.nextDelayID)
		}
		prevDue, prevID = due, id
		// Appended in (due, id) order: already a heap.
		g.delayed = append(g.delayed, &delayedEntry{due: due, id: id, vhost: vhost, body: p})
	}
	return nil
}
