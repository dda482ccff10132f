package fsm

// assign hands q's ready messages to its consumers with credit, round robin,
// until it runs out of one or the other (ARCHITECTURE §3).
//
// The service order is a list of every consumer. Each step takes the first
// consumer in that order that has credit, gives it the head ready message
// (returns first), and moves it to the back. A consumer without credit is
// skipped but keeps its place, so it is next in line as soon as credit
// returns. Hence two unlimited consumers alternate strictly, and with
// prefetch 1 a busy worker is passed over for an idle one (fair dispatch).
//
// Expired messages met at the head are discarded (dead-letter reason
// "expired") rather than delivered; as in RabbitMQ, expiry is only checked at
// the head, so an expired message behind a live one waits for its turn.
func (g *QueueGroup) assign(q *queueState, res *Result) {
	if q.spec.GetSingleActiveConsumer() {
		g.assignSingle(q, res)
		return
	}
	prio := false
	for c := q.first; c != nil && !prio; c = c.next {
		prio = c.priority != 0
	}
	for q.readyLen() > 0 {
		c := q.nextConsumer(prio)
		if c == nil {
			return
		}
		m, _ := q.popReady()
		if msgExpired(&m, g.lastNow, g.cur) {
			q.deadLetter(&m, dlReasonExpired, res)
			continue
		}
		g.deliverTo(q, c, m, res)
		if c != q.last {
			q.unlinkConsumer(c)
			q.appendConsumer(c)
		}
	}
}

// nextConsumer returns the consumer the next message goes to: the first in
// service order with credit, or with consumer priorities (prio) the first
// with credit among those of the highest priority that have credit
// (RabbitMQ: higher-priority consumers get messages while they have
// credit; equal ones take turns). nil when none has credit.
func (q *queueState) nextConsumer(prio bool) *queueConsumer {
	var best *queueConsumer
	for c := q.first; c != nil; c = c.next {
		if !c.hasCredit() {
			continue
		}
		if !prio {
			return c
		}
		if best == nil || c.priority > best.priority {
			best = c
		}
	}
	return best
}

// deliverTo checks m out to c under its next tag and reports the delivery.
func (g *QueueGroup) deliverTo(q *queueState, c *queueConsumer, m queueMsg, res *Result) {
	tag := c.nextTag
	c.nextTag++
	var at int64
	if c.timeoutMs > 0 && !c.autoAck {
		at = max(g.lastNow, 1) // the consumer timeout counts from here
	}
	d := q.delivery(&m, c.session, c.tag, tag)
	d.AutoAck = c.autoAck
	res.Deliveries = append(res.Deliveries, d)
	if c.autoAck {
		// Settled at assignment (at most once): the record keeps the tag's
		// credit in use until the dispatcher settles it, but not the body.
		m.dropPayload()
	} else {
		q.unacked++
	}
	c.out[tag] = outMsg{m, at}
}

// assignSingle is assign for a queue with x-single-active-consumer: only
// its active consumer (pickActive) gets messages, and the service order is
// never rotated, so it stays the registration order. When the active
// consumer changes, Result.ActiveChanged says so (the one that stopped
// being active, if it is still there, then the new one). A consumer that
// went had its unacked messages returned, to the front of the ready
// messages, so the next active one gets them first.
func (g *QueueGroup) assignSingle(q *queueState, res *Result) {
	a := q.pickActive()
	if a != q.active {
		if old := q.active; old != nil && q.consumers[consumerKey{old.session, old.tag}] == old {
			res.ActiveChanged = append(res.ActiveChanged, ActiveChange{Queue: q.spec.GetId(), Session: old.session, Tag: old.tag})
		}
		if a != nil {
			res.ActiveChanged = append(res.ActiveChanged, ActiveChange{Queue: q.spec.GetId(), Session: a.session, Tag: a.tag, Active: true})
		}
		q.active = a
	}
	for a != nil && a.hasCredit() && q.readyLen() > 0 {
		m, _ := q.popReady()
		if msgExpired(&m, g.lastNow, g.cur) {
			q.deadLetter(&m, dlReasonExpired, res)
			continue
		}
		g.deliverTo(q, a, m, res)
	}
}

// pickActive returns the consumer a single-active-consumer queue serves:
// the first in registration order among those of the highest priority,
// or nil when it has none.
func (q *queueState) pickActive() *queueConsumer {
	var best *queueConsumer
	for c := q.first; c != nil; c = c.next {
		if best == nil || c.priority > best.priority {
			best = c
		}
	}
	return best
}

// dropExpiredHeads discards the expired messages at the heads of the returns
// list and of the main FIFO, and returns how many it discarded.
func (g *QueueGroup) dropExpiredHeads(q *queueState, res *Result) int {
	n := 0
	for i, d := range q.readyDeques() {
		for {
			m, ok := d.Front()
			if !ok || !msgExpired(&m, g.lastNow, g.cur) {
				break
			}
			d.PopFront()
			q.readyBytes -= uint64(m.size)
			if q.levels != nil {
				q.prioReady--
				q.levelChanged(len(q.levels) - 1 - i/2)
			}
			q.deadLetter(&m, dlReasonExpired, res)
			n++
		}
	}
	return n
}
