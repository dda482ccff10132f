package fsm

import (
	"cmp"
	"fmt"
	"slices"
	"time"

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
	q.used(g.advanceClock(b.GetNowMs()))
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
		d.AutoAck = b.GetAutoAck()
		res.Got = &d
	}
	res.Count = uint64(q.readyLen())
}

// applyTick advances the clock and, for every queue in id order, first
// returns the unacked gets whose lease ended (holders by session, tags in
// order; delivery count +1), then discards the expired messages at the heads
// of the ready lists (dead-letter reason "expired"), and lists the queues
// unused past their x-expires in Result.ExpiredQueues (for the leader to
// delete; listed again at every Tick until deleted). A queue whose idle
// time was waiting for a clock (its last consumer went) starts it now.
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
		if g.timeOutConsumers(q, now, res) {
			// Their messages came back: assign them now, so that the
			// heads are checked for expiry after (as after a lease).
			g.dropExpiredHeads(q, res)
			g.assign(q, res)
		}
		g.dropExpiredHeads(q, res)
		if due := q.expiryDeadline(); due == 1 {
			q.used(now)
		} else if due != 0 && due <= now {
			res.ExpiredQueues = append(res.ExpiredQueues, IdleQueue{ID: id, VHost: q.spec.GetVhost(), Name: q.spec.GetName()})
		}
	}
	g.releaseDue(now, res)
}

// timeOutConsumers removes, in service order, the consumers of q that have
// a delivery unacked for their timeout or longer at now; their deliveries
// return to the queue (redelivered, delivery count + 1) and Result.Ended
// tells their streams why (Timeout). It reports whether it removed any.
func (g *QueueGroup) timeOutConsumers(q *queueState, now int64, res *Result) bool {
	var late []*queueConsumer
	var tags []uint64
	for c := q.first; c != nil; c = c.next {
		if tag, at := c.oldestOut(); at != 0 && at <= now-c.timeoutMs {
			late = append(late, c)
			tags = append(tags, tag)
		}
	}
	for i, c := range late {
		d := time.Duration(c.timeoutMs) * time.Millisecond
		res.Ended = append(res.Ended, EndedConsumer{
			Queue: q.spec.GetId(), QueueName: q.spec.GetName(), Session: c.session, Tag: c.tag, Timeout: true,
			Reason: fmt.Sprintf("consumer timeout: delivery tag %d unacknowledged for %v", tags[i], d),
		})
		res.Count += g.removeConsumer(q, c, res)
	}
	return len(late) > 0
}

// applyQueueUsed records a declaration of a queue with x-expires: its
// state is created if need be and its idle time starts again.
func (g *QueueGroup) applyQueueUsed(b *fsmpb.QueueUsed, res *Result) {
	if err := ValidQueueSpec(b.GetQueue()); err != nil {
		res.Err = fmt.Errorf("queue used: %w", err)
		return
	}
	q, err := g.queueFor(b.GetQueue())
	if err != nil {
		res.Err = fmt.Errorf("queue used: %w", err)
		return
	}
	g.features = true
	q.used(g.advanceClock(b.GetNowMs()))
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
	q.clearReady()
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
	reason := b.GetReason()
	if reason == "" {
		reason = "queue deleted"
	}
	// In service order: the consumers' streams end with the reason.
	for c := q.first; c != nil; c = c.next {
		g.dropSessionRef(c.session, id, c.tag)
		res.Ended = append(res.Ended, EndedConsumer{Queue: id, QueueName: q.spec.GetName(), Session: c.session, Tag: c.tag, Reason: reason})
	}
	slices.SortFunc(res.Ended, func(a, b EndedConsumer) int {
		return cmp.Or(cmp.Compare(a.Session, b.Session), cmp.Compare(a.Tag, b.Tag))
	})
	for s := range q.gets {
		g.dropSessionRef(s, id, "")
	}
	q.dropped = true
	g.dropOutbox(q)
	delete(g.queues, id)
}
