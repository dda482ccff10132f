package fsm

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// settleKind is what Settle, Return and Discard do to each message.
type settleKind uint8

const (
	settleAck     settleKind = 1 // Settle: the message is done
	settleReturn  settleKind = 2 // Return: back to the returns list, count +1
	settleDiscard settleKind = 3 // Discard: dead-letter ("rejected") or drop
)

// String names the command, for errors.
func (k settleKind) String() string {
	switch k {
	case settleAck:
		return "settle"
	case settleReturn:
		return "return"
	case settleDiscard:
		return "discard"
	}
	return "settle kind " + strconv.Itoa(int(k))
}

// applySettle settles, returns or discards the given tags of consumers (or,
// with consumer tag "", of a session's gets). Each item's tags are taken in
// increasing order, so returned messages join the returns list in tag order.
//
// Unknown queues, consumers and tags are ignored: the dispatcher validates
// tags before it proposes, and a tag can legitimately be gone by the time the
// command applies (its consumer was cancelled in between). For an auto-ack
// consumer the message already left the queue; any of the three frees the
// tag's credit.
//
// Every item's session id and consumer tag are checked first: one that
// fails the limits refuses the whole command with ErrInvalid, before any
// item is settled.
func (g *QueueGroup) applySettle(items []*fsmpb.ConsumerTags, kind settleKind, nowMs int64, res *Result) {
	for i, it := range items {
		if err := checkConsumer(it.GetSession(), it.GetConsumerTag(), true); err != nil {
			res.Err = fmt.Errorf("%s: items[%d]: %w", kind, i, err)
			return
		}
	}
	g.advanceClock(nowMs)
	var tags []uint64
	for _, it := range items {
		q := g.queues[it.GetQueue()]
		if q == nil || len(it.GetTags()) == 0 {
			continue
		}
		tags = append(tags[:0], it.GetTags()...) // the command's slice is not ours to sort
		slices.Sort(tags)
		tags = slices.Compact(tags)
		if it.GetConsumerTag() == "" {
			if h := q.gets[it.GetSession()]; h != nil {
				g.settleGets(q, h, tags, kind, res)
			}
			continue
		}
		if c := q.consumers[consumerKey{it.GetSession(), it.GetConsumerTag()}]; c != nil {
			g.settleConsumer(q, c, tags, kind, res)
		}
	}
}

func (g *QueueGroup) settleConsumer(q *queueState, c *queueConsumer, tags []uint64, kind settleKind, res *Result) {
	for _, t := range tags {
		m, ok := c.out[t]
		if !ok {
			continue
		}
		delete(c.out, t)
		g.touch(q) // credit came back
		if c.autoAck {
			continue
		}
		q.unacked--
		q.finish(m.queueMsg, kind, res)
	}
	c.settleLow()
}

func (g *QueueGroup) settleGets(q *queueState, h *queueGetHolder, tags []uint64, kind settleKind, res *Result) {
	for _, t := range tags {
		e, ok := h.out[t]
		if !ok {
			continue
		}
		delete(h.out, t)
		q.unacked--
		if kind == settleReturn {
			g.touch(q) // a ready message appeared
		}
		q.finish(e.msg, kind, res)
	}
}

// finish applies kind to a checked-out message that has just been taken off
// its consumer or get-holder.
func (q *queueState) finish(m queueMsg, kind settleKind, res *Result) {
	switch kind {
	case settleReturn:
		q.requeue(m, res)
	case settleDiscard:
		q.deadLetter(&m, dlReasonRejected, res)
	}
}
