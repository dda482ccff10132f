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
	for q.readyLen() > 0 {
		c := q.first
		for c != nil && !c.hasCredit() {
			c = c.next
		}
		if c == nil {
			return
		}
		m, _ := q.popReady()
		if msgExpired(&m, g.lastNow, g.cur) {
			q.deadLetter(&m, dlReasonExpired, res)
			continue
		}
		tag := c.nextTag
		c.nextTag++
		res.Deliveries = append(res.Deliveries, q.delivery(&m, c.session, c.tag, tag))
		if c.autoAck {
			// Settled at assignment (at most once): the record keeps the tag's
			// credit in use until the dispatcher settles it, but not the body.
			m.body = nil
		} else {
			q.unacked++
		}
		c.out[tag] = m
		if c != q.last {
			q.unlinkConsumer(c)
			q.appendConsumer(c)
		}
	}
}

// dropExpiredHeads discards the expired messages at the heads of the returns
// list and of the main FIFO, and returns how many it discarded.
func (g *QueueGroup) dropExpiredHeads(q *queueState, res *Result) int {
	n := 0
	for _, d := range []*deque[queueMsg]{&q.returns, &q.main} {
		for {
			m, ok := d.Front()
			if !ok || !msgExpired(&m, g.lastNow, g.cur) {
				break
			}
			d.PopFront()
			q.readyBytes -= uint64(m.size)
			q.deadLetter(&m, dlReasonExpired, res)
			n++
		}
	}
	return n
}
