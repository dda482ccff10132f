package fsm

import (
	"cmp"
	"maps"
	"slices"
)

// QueueStats are the counters of one queue.
type QueueStats struct {
	// Ready is the number of messages waiting for delivery (returns and main
	// FIFO); ReadyBytes is the sum of their sizes in bytes, what
	// max-length-bytes limits: MessageSize (body, headers and string
	// properties), or the body alone for a message enqueued by an entry
	// written before that rule (sizeOf).
	Ready, ReadyBytes uint64
	// Unacked is the number of messages checked out to consumers or gets
	// and not yet settled. In-flight tags of auto-ack consumers, whose
	// messages already left the queue, are not counted.
	Unacked uint64
	// Consumers is the number of consumers (get-holders excluded).
	Consumers uint32
	// ActiveConsumer is the tag of the consumer a single-active-consumer
	// queue serves ("" when it has none, or is no such queue).
	ActiveConsumer string
}

// QueueStats returns the counters of queue id, and false when the group has
// no state for it (never used, or dropped). O(1).
func (g *QueueGroup) QueueStats(id uint64) (QueueStats, bool) {
	q := g.queues[id]
	if q == nil {
		return QueueStats{}, false
	}
	st := QueueStats{
		Ready: uint64(q.readyLen()), ReadyBytes: q.readyBytes, Unacked: q.unacked,
		Consumers: uint32(min(len(q.consumers), 1<<32-1)),
	}
	if q.active != nil {
		st.ActiveConsumer = q.active.tag
	}
	return st, true
}

// ConsumerActive reports whether consumer (session, tag) of queue id gets
// deliveries: true for every consumer of a queue without
// x-single-active-consumer, and for the active one of a queue with it.
// False when there is no such consumer.
func (g *QueueGroup) ConsumerActive(id uint64, session, tag string) bool {
	q := g.queues[id]
	if q == nil {
		return false
	}
	c := q.consumers[consumerKey{session, tag}]
	return c != nil && (!q.spec.GetSingleActiveConsumer() || c == q.active)
}

// Sessions returns, sorted, the sessions that hold a consumer or a
// get-holder (one exists from a session's first unacknowledged Get on a queue
// until the session goes down or cancels it) on some queue of the group. A
// new leader downs those that do not re-attach.
func (g *QueueGroup) Sessions() []string {
	return slices.Sorted(maps.Keys(g.sessions))
}

// HasSession reports whether session holds a consumer or a get-holder on
// some queue of the group. O(1).
func (g *QueueGroup) HasSession(session string) bool {
	return len(g.sessions[session]) > 0
}

// CheckedOut returns the outstanding deliveries of session, ordered by queue
// id, then consumer tag (its gets, tag "", first), then delivery tag, for a
// new leader to re-send when the session re-attaches.
//
// An auto-ack consumer's outstanding tags are included with a nil Payload:
// their messages are gone (at most once), and the dispatcher should settle
// those tags to give the consumer its credit back. It costs what the
// session holds: the session index lists its queues and consumer tags.
func (g *QueueGroup) CheckedOut(session string) []Delivery {
	qids := slices.Sorted(maps.Keys(g.sessions[session]))
	var out []Delivery
	for _, qid := range qids {
		q := g.queues[qid]
		if q == nil {
			continue
		}
		// The session's tags on q, in order: its gets ("") first.
		for _, tag := range g.sessionTags(session, qid) {
			if tag == "" {
				if h := q.gets[session]; h != nil {
					for _, t := range sortedTags(h.out) {
						m := h.out[t].msg
						out = append(out, q.delivery(&m, session, "", t))
					}
				}
				continue
			}
			if c := q.consumers[consumerKey{session, tag}]; c != nil {
				for _, t := range sortedTags(c.out) {
					m := c.out[t].queueMsg
					out = append(out, q.delivery(&m, session, c.tag, t))
				}
			}
		}
	}
	return out
}

// ConsumerInfo describes one consumer.
type ConsumerInfo struct {
	Queue    uint64
	Session  string
	Tag      string // consumer tag
	Prefetch uint32 // 0: unlimited
	AutoAck  bool
	// Unacked is the number of outstanding delivery tags, i.e. the credit in
	// use (for auto-ack consumers, deliveries not yet settled by the
	// dispatcher).
	Unacked int
}

// Consumers returns every consumer of the group, sorted by queue id, session,
// consumer tag. Get-holders are not consumers. It reads the session index,
// so it costs the consumers (C log C), not the queues of the group: the
// leader calls it every few seconds under the read lock.
func (g *QueueGroup) Consumers() []ConsumerInfo {
	var out []ConsumerInfo
	for s, qs := range g.sessions {
		for qid, tags := range qs {
			q := g.queues[qid]
			if q == nil {
				continue
			}
			for tag := range tags {
				c := q.consumers[consumerKey{s, tag}]
				if tag == "" || c == nil {
					continue // the get-holder
				}
				out = append(out, ConsumerInfo{
					Queue: qid, Session: s, Tag: tag,
					Prefetch: c.prefetch, AutoAck: c.autoAck, Unacked: len(c.out),
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b ConsumerInfo) int {
		return cmp.Or(cmp.Compare(a.Queue, b.Queue), cmp.Compare(a.Session, b.Session), cmp.Compare(a.Tag, b.Tag))
	})
	return out
}

// NextDeadline returns the earliest Unix-ms time at which a Tick would
// change the state — an unacked get's lease ending, or an expiring message at
// the head of a queue's returns list or main FIFO (expiry is only acted on at
// the head, see assign) — or 0 when there is none. The time may be in the
// past (a message whose TTL was 0): tick at once. O(queues + unacked gets).
func (g *QueueGroup) NextDeadline() int64 {
	var next int64
	earlier := func(t int64) {
		if t > 0 && (next == 0 || t < next) {
			next = t
		}
	}
	earlier(g.NextDelayDue())
	for _, q := range g.queues {
		if q.levels == nil {
			if m, ok := q.returns.Front(); ok {
				earlier(m.expiry)
			}
			if m, ok := q.main.Front(); ok {
				earlier(m.expiry)
			}
		} else {
			for _, d := range q.readyDeques() {
				if m, ok := d.Front(); ok {
					earlier(m.expiry)
				}
			}
		}
		earlier(q.expiryDeadline())
		for c := q.first; c != nil; c = c.next {
			earlier(c.timeoutDeadline())
		}
		if q.unacked == 0 {
			continue
		}
		for _, h := range q.gets {
			for _, e := range h.out {
				earlier(e.lease)
			}
		}
	}
	return next
}
