package fsm

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// applyCheckout adds the consumer (session, consumer_tag) at the end of the
// queue's service order, creating the queue's state on first use.
//
// A consumer that already exists with the same prefetch and auto-ack is a
// re-attach after a leader change: a no-op that keeps its checked-out
// messages. With other settings it is ErrPrecondition: prefetch and ack mode
// never change mid-stream (ARCHITECTURE §9).
func (g *QueueGroup) applyCheckout(b *fsmpb.Checkout, res *Result) {
	if err := checkQueueSpec(b.GetQueue()); err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	session, tag := b.GetSession(), b.GetConsumerTag()
	if session == "" {
		res.Err = fmt.Errorf("%w: checkout without a session", ErrInvalid)
		return
	}
	if tag == "" {
		res.Err = fmt.Errorf("%w: checkout: the empty consumer tag is reserved for gets", ErrInvalid)
		return
	}
	q, err := g.queueFor(b.GetQueue())
	if err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	g.advanceClock(b.GetNowMs())
	key := consumerKey{session, tag}
	if c := q.consumers[key]; c != nil {
		if c.prefetch != b.GetPrefetch() || c.autoAck != b.GetAutoAck() {
			res.Err = fmt.Errorf("%w: consumer %q of session %q on queue %q exists with prefetch %d, auto-ack %t",
				ErrPrecondition, tag, session, q.spec.GetName(), c.prefetch, c.autoAck)
		}
		return
	}
	c := &queueConsumer{
		session: session, tag: tag, prefetch: b.GetPrefetch(), autoAck: b.GetAutoAck(),
		nextTag: 1, out: make(map[uint64]queueMsg),
	}
	q.consumers[key] = c
	q.appendConsumer(c)
	g.addSessionRef(session, q.spec.GetId())
	g.touch(q)
}

// applyCancel removes one consumer (or, with consumer tag "", the session's
// get-holder) and returns its checked-out messages to the queue. Unknown
// queues and consumers are ignored. Result.Count is the number requeued.
func (g *QueueGroup) applyCancel(b *fsmpb.Cancel, res *Result) {
	q := g.queues[b.GetQueue()]
	if q == nil {
		return
	}
	if b.GetConsumerTag() == "" {
		if h := q.gets[b.GetSession()]; h != nil {
			res.Count += g.removeHolder(q, h, res)
		}
		return
	}
	if c := q.consumers[consumerKey{b.GetSession(), b.GetConsumerTag()}]; c != nil {
		res.Count += g.removeConsumer(q, c, res)
	}
}

// removeConsumer deletes c from q and requeues its checked-out messages in
// tag order (delivery count +1, subject to the delivery limit). An auto-ack
// consumer's outstanding tags are simply dropped: their messages are gone (at
// most once). It returns the number of messages requeued.
func (g *QueueGroup) removeConsumer(q *queueState, c *queueConsumer, res *Result) uint64 {
	msgs := q.takeOutConsumer(c)
	q.unlinkConsumer(c)
	delete(q.consumers, consumerKey{c.session, c.tag})
	g.dropSessionRef(c.session, q.spec.GetId())
	g.touch(q)
	if len(q.consumers) == 0 {
		res.IdleQueues = append(res.IdleQueues, q.spec.GetId())
	}
	var n uint64
	if c.autoAck {
		return 0
	}
	for _, m := range msgs {
		if q.requeue(m, res) {
			n++
		}
	}
	return n
}

// removeHolder deletes a get-holder and requeues its unacked gets in tag
// order. It returns the number of messages requeued.
func (g *QueueGroup) removeHolder(q *queueState, h *queueGetHolder, res *Result) uint64 {
	msgs := q.takeOutHolder(h)
	delete(q.gets, h.session)
	g.dropSessionRef(h.session, q.spec.GetId())
	g.touch(q)
	var n uint64
	for _, m := range msgs {
		if q.requeue(m, res) {
			n++
		}
	}
	return n
}

// applySessionDown cancels every consumer and get-holder of the given
// sessions. Order, which decides the order of the returns lists: queues by
// id; within a queue by session, then consumer tag (the get-holder, tag "",
// first). Result.Count is the total number of messages requeued.
func (g *QueueGroup) applySessionDown(b *fsmpb.SessionDown, res *Result) {
	down := make(map[string]bool, len(b.GetSessions()))
	var qids []uint64
	for _, s := range b.GetSessions() {
		if down[s] {
			continue
		}
		down[s] = true
		for qid := range g.sessions[s] {
			qids = append(qids, qid)
		}
	}
	slices.Sort(qids)
	qids = slices.Compact(qids)

	type victim struct {
		session, tag string
		c            *queueConsumer
		h            *queueGetHolder
	}
	var vs []victim
	for _, qid := range qids {
		q := g.queues[qid]
		if q == nil {
			continue
		}
		vs = vs[:0]
		for c := q.first; c != nil; c = c.next {
			if down[c.session] {
				vs = append(vs, victim{session: c.session, tag: c.tag, c: c})
			}
		}
		for s, h := range q.gets {
			if down[s] {
				vs = append(vs, victim{session: s, h: h})
			}
		}
		slices.SortFunc(vs, func(a, b victim) int {
			return cmp.Or(cmp.Compare(a.session, b.session), cmp.Compare(a.tag, b.tag))
		})
		for _, v := range vs {
			if v.h != nil {
				res.Count += g.removeHolder(q, v.h, res)
			} else {
				res.Count += g.removeConsumer(q, v.c, res)
			}
		}
	}
}
