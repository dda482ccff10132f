package fsm

import (
	"fmt"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// applyGet takes the head ready message of a queue (polling, as SQS users
// expect), creating the queue's state on first use. Expired messages at the
// head are discarded first.
//
// With auto_ack the message is removed and Got.Tag is 0: there is nothing to
// settle. Otherwise it is checked out to the session's get-holder on that
// queue (consumer tag ""), under the holder's next tag, until it is settled,
// returned, discarded, its session goes down, or its lease ends: a Tick at or
// after lease_until_ms (Unix ms) returns it. A lease_until_ms ≤ 0 means no
// lease. Get-holders take no part in round-robin assignment.
//
// Result.Got is nil when the queue had nothing ready; Result.Count is the
// ready count after the get.
func (g *QueueGroup) applyGet(b *fsmpb.Get, res *Result) {
	if err := ValidQueueSpec(b.GetQueue()); err != nil {
		res.Err = fmt.Errorf("get: %w", err)
		return
	}
	session := b.GetSession()
	if session == "" {
		res.Err = fmt.Errorf("%w: get without a session", ErrInvalid)
		return
	}
	if err := ValidSessionID(session); err != nil {
		res.Err = fmt.Errorf("get: %w", err)
		return
	}
	q, err := g.queueFor(b.GetQueue())
	if err != nil {
		res.Err = fmt.Errorf("get: %w", err)
		return
	}
	g.advanceClock(b.GetNowMs())
	g.dropExpiredHeads(q, res)
	if m, ok := q.popReady(); ok {
		var tag uint64
		if !b.GetAutoAck() {
			h := q.gets[session]
			if h == nil {
				h = &queueGetHolder{session: session, nextTag: 1, out: make(map[uint64]getEntry)}
				q.gets[session] = h
				g.addSessionRef(session, q.spec.GetId(), "")
			}
			tag = h.nextTag
			h.nextTag++
			h.out[tag] = getEntry{msg: m, lease: max(b.GetLeaseUntilMs(), 0)}
			q.unacked++
		}
		d := q.delivery(&m, session, "", tag)
		res.Got = &d
	}
	res.Count = uint64(q.readyLen())
}

// applyTick advances the clock and, for every queue in id order, first
// returns the unacked gets whose lease ended (holders by session, tags in
// order; delivery count +1), then discards the expired messages at the heads
// of the ready lists (dead-letter reason "expired").
func (g *QueueGroup) applyTick(b *fsmpb.Tick, res *Result) {
	now := g.advanceClock(b.GetNowMs())
	for _, id := range g.sortedQueueIDs() {
		q := g.queues[id]
		if len(q.gets) > 0 && q.unacked > 0 {
			for _, h := range q.sortedHolders() {
				for _, t := range sortedTags(h.out) {
					e := h.out[t]
					if e.lease == 0 || e.lease > now {
						continue
					}
					delete(h.out, t)
					q.unacked--
					q.requeue(e.msg, res)
					g.touch(q)
				}
			}
		}
		g.dropExpiredHeads(q, res)
	}
	g.releaseDue(now, res)
}

// applyPurge removes every ready message of a queue; checked-out ones stay.
// Result.Count is the number removed. Purged messages are not dead-lettered,
// as in RabbitMQ.
func (g *QueueGroup) applyPurge(b *fsmpb.Purge, res *Result) {
	q := g.queues[b.GetQueue()]
	if q == nil {
		res.Err = fmt.Errorf("%w: purge: queue %d", ErrNotFound, b.GetQueue())
		return
	}
	res.Count = uint64(q.readyLen())
	q.returns.Clear()
	q.main.Clear()
	q.readyBytes = 0
}

// applyDropQueue deletes a queue's state, if any, and tombstones its id for
// ever (ids are never reused), so a publish that races the deletion gets
// EnqueueNoQueue rather than a message stranded in a queue nobody can see.
// Result.Count is the number of messages dropped (ready and checked out).
func (g *QueueGroup) applyDropQueue(b *fsmpb.DropQueue, res *Result) {
	id := b.GetQueue()
	if id == 0 {
		res.Err = fmt.Errorf("%w: drop queue: id 0", ErrInvalid)
		return
	}
	g.tombstones[id] = struct{}{}
	q := g.queues[id]
	if q == nil {
		return
	}
	res.Count = uint64(q.readyLen()) + q.unacked
	// Map order is harmless here: removing references commutes.
	for _, c := range q.consumers {
		g.dropSessionRef(c.session, id, c.tag)
	}
	for s := range q.gets {
		g.dropSessionRef(s, id, "")
	}
	q.dropped = true
	g.dropOutbox(q)
	delete(g.queues, id)
}
