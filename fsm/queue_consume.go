package fsm

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// checkConsumer checks the session and consumer tag that name a consumer,
// or with tag "" (where allowGets) a session's get-holder.
func checkConsumer(session, tag string, allowGets bool) error {
	if err := ValidSessionID(session); err != nil {
		return err
	}
	if tag == "" && !allowGets {
		return fmt.Errorf("%w: the empty consumer tag is reserved for gets", ErrInvalid)
	}
	return ValidKey("consumer tag", tag)
}

// applyCheckout adds the consumer (session, consumer_tag) at the end of the
// queue's service order, creating the queue's state on first use.
//
// A consumer that already exists with the same prefetch and auto-ack is a
// re-attach after a leader change: a no-op that keeps its checked-out
// messages. With other settings it is ErrPrecondition: prefetch and ack mode
// never change mid-stream (ARCHITECTURE §9).
func (g *QueueGroup) applyCheckout(b *fsmpb.Checkout, res *Result) {
	if err := ValidQueueSpec(b.GetQueue()); err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	session, tag := b.GetSession(), b.GetConsumerTag()
	if session == "" {
		res.Err = fmt.Errorf("%w: checkout without a session", ErrInvalid)
		return
	}
	if err := checkConsumer(session, tag, false); err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	if err := ValidPrefetch(b.GetPrefetch()); err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	q, err := g.queueFor(b.GetQueue())
	if err != nil {
		res.Err = fmt.Errorf("checkout: %w", err)
		return
	}
	key := consumerKey{session, tag}
	if c := q.consumers[key]; c != nil {
		if c.prefetch != b.GetPrefetch() || c.autoAck != b.GetAutoAck() {
			// Refused: the clock does not move either.
			res.Err = fmt.Errorf("%w: consumer %q of session %q on queue %q exists with prefetch %d, auto-ack %t",
				ErrPrecondition, tag, session, q.spec.GetName(), c.prefetch, c.autoAck)
			return
		}
		q.used(g.advanceClock(b.GetNowMs()))
		return
	}
	q.used(g.advanceClock(b.GetNowMs()))
	c := &queueConsumer{
		session: session, tag: tag, prefetch: b.GetPrefetch(), autoAck: b.GetAutoAck(),
		nextTag: 1, low: 1, out: make(map[uint64]outMsg), priority: b.GetPriority(), timeoutMs: max(b.GetTimeoutMs(), 0),
	}
	if c.priority != 0 || c.timeoutMs != 0 {
		g.features = true
	}
	q.consumers[key] = c
	q.appendConsumer(c)
	g.addSessionRef(session, q.spec.GetId(), tag)
	g.touch(q)
}

// applyCancel removes one consumer (or, with consumer tag "", the session's
// get-holder) and returns its checked-out messages to the queue. Unknown
// queues and consumers are ignored. Result.Count is the number requeued.
func (g *QueueGroup) applyCancel(b *fsmpb.Cancel, res *Result) {
	if err := checkConsumer(b.GetSession(), b.GetConsumerTag(), true); err != nil {
		res.Err = fmt.Errorf("cancel: %w", err)
		return
	}
	g.advanceClock(b.GetNowMs())
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
	g.dropSessionRef(c.session, q.spec.GetId(), c.tag)
	g.touch(q)
	if len(q.consumers) == 0 {
		q.usedAt = 0 // idle from the next Tick on (x-expires)
		res.IdleQueues = append(res.IdleQueues, IdleQueue{ID: q.spec.GetId(), VHost: q.spec.GetVhost(), Name: q.spec.GetName()})
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
	g.dropSessionRef(h.session, q.spec.GetId(), "")
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
//
// It costs what the sessions hold (the session index lists their queues
// and tags), never the number of queues or of a queue's other consumers. A
// session id is checked against the limits only when it holds nothing.
func (g *QueueGroup) applySessionDown(b *fsmpb.SessionDown, res *Result) {
	sessions := b.GetSessions()
	if len(sessions) > MaxSessionsPerCommand {
		res.Err = fmt.Errorf("%w: session down lists %d sessions; the limit is %d", ErrInvalid, len(sessions), MaxSessionsPerCommand)
		return
	}
	for i, s := range sessions {
		if _, holds := g.sessions[s]; holds {
			continue
		}
		if p := textProblem(s, MaxSessionIDBytes, false); p != "" {
			res.Err = fmt.Errorf("%w: session down: sessions[%d] %s", ErrInvalid, i, p)
			return
		}
	}

	g.advanceClock(b.GetNowMs())
	// victim is one consumer (tag) or get-holder (tag "") to remove.
	type victim struct {
		queue        uint64
		session, tag string
	}
	var vs []victim
	seen := make(map[string]bool, len(sessions))
	for _, s := range sessions {
		if seen[s] {
			continue
		}
		seen[s] = true
		for qid, tags := range g.sessions[s] {
			for tag := range tags {
				vs = append(vs, victim{qid, s, tag})
			}
		}
	}
	slices.SortFunc(vs, func(a, b victim) int {
		return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(a.session, b.session), cmp.Compare(a.tag, b.tag))
	})
	for _, v := range vs {
		q := g.queues[v.queue]
		if q == nil {
			continue
		}
		if v.tag == "" {
			if h := q.gets[v.session]; h != nil {
				res.Count += g.removeHolder(q, h, res)
			}
		} else if c := q.consumers[consumerKey{v.session, v.tag}]; c != nil {
			res.Count += g.removeConsumer(q, c, res)
		}
	}
}

// sessionTags returns the consumer tags of session on queue in order ("",
// its get-holder, first when it has one).
func (g *QueueGroup) sessionTags(session string, queue uint64) []string {
	return slices.Sorted(maps.Keys(g.sessions[session][queue]))
}
