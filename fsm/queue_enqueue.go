package fsm

import (
	"fmt"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// reasonQueueDeleted is the EnqueueNoQueue reason for a dropped queue id.
const reasonQueueDeleted = "queue was deleted"

// applyEnqueue applies a batch of messages, each to its target queues, and
// reports one outcome per message in res.Enqueued.
//
// A structurally bad command (a spec that fails ValidQueueSpec, a message
// without a payload or without a queue ref, a queue ref out of range) is
// refused as a whole with ErrInvalid before anything changes. Otherwise,
// per message: one whose payload or producer id fails the limits
// (ValidPayload) is answered EnqueueRejected and changes nothing — one
// Enqueue carries the messages of many publishers, so one bad message must
// not refuse the others; a duplicate (producer, sequence) is answered
// EnqueueDuplicate and enqueued nowhere; else it is enqueued once to each
// distinct target queue, whose own outcome is NoQueue (dropped id),
// Rejected (full, reject-publish) or OK. The message's outcome is the first
// non-OK one in the order NoQueue, Rejected. The (producer, sequence) of a
// valid message is recorded whatever the outcome, so a retry is a
// duplicate.
//
// Each message's size, which max-length-bytes limits, is measured by the
// command's size rule (sizeOf); a rule this build does not know refuses
// the command as a whole.
func (g *QueueGroup) applyEnqueue(b *fsmpb.Enqueue, res *Result) {
	if err := checkSizeRule(b.GetSizeRule()); err != nil {
		res.Err = err
		return
	}
	specs := b.GetQueues()
	for i, s := range specs {
		if err := ValidQueueSpec(s); err != nil {
			res.Err = fmt.Errorf("enqueue: queues[%d]: %w", i, err)
			return
		}
	}
	msgs := b.GetMessages()
	for i, m := range msgs {
		if m.GetPayload() == nil {
			res.Err = fmt.Errorf("%w: enqueue: messages[%d] has no payload", ErrInvalid, i)
			return
		}
		if len(m.GetQueueRefs()) == 0 {
			res.Err = fmt.Errorf("%w: enqueue: messages[%d] has no queue ref", ErrInvalid, i)
			return
		}
		for _, r := range m.GetQueueRefs() {
			if uint64(r) >= uint64(len(specs)) {
				res.Err = fmt.Errorf("%w: enqueue: messages[%d] refers to queue %d of %d", ErrInvalid, i, r, len(specs))
				return
			}
		}
	}
	now := g.advanceClock(b.GetNowMs())
	g.sizeRule = max(g.sizeRule, b.GetSizeRule())
	res.Enqueued = make([]EnqueueOutcome, 0, len(msgs))
	var ids []uint64 // scratch: the queue ids the current message went to
	for _, m := range msgs {
		res.Enqueued = append(res.Enqueued, g.enqueueMessage(m, specs, b.GetSizeRule(), now, &ids, res))
	}
}

// checkMessage checks what one EnqueueMessage carries from its publisher:
// the producer id and the payload. The error wraps ErrInvalid.
func checkMessage(m *fsmpb.EnqueueMessage) error {
	if err := validText("producer id", m.GetProducerId(), MaxSessionIDBytes, true); err != nil {
		return err
	}
	return ValidPayload(m.GetPayload())
}

// enqueueMessage applies one message of an Enqueue.
func (g *QueueGroup) enqueueMessage(m *fsmpb.EnqueueMessage, specs []*fsmpb.QueueSpec, rule fsmpb.SizeRule, now int64, ids *[]uint64, res *Result) EnqueueOutcome {
	if err := checkMessage(m); err != nil {
		return EnqueueOutcome{Status: EnqueueRejected, Reason: "message refused: " + err.Error()}
	}
	producer, seq := m.GetProducerId(), m.GetSequence()
	dedup := producer != "" && seq > 0
	if dedup && g.dedup.seen(producer, seq) {
		g.dedup.record(producer, seq, g.cur) // the producer is alive: keep it
		return EnqueueOutcome{Status: EnqueueDuplicate}
	}
	var out EnqueueOutcome
	// Once: the payload is shared by its queues.
	size := sizeOf(rule, m.GetPayload())
	body := newMsgBody(m.GetPayload(), g.cur)
	body.inline = body.inline && !g.wholePayloads
	*ids = (*ids)[:0]
	for _, r := range m.GetQueueRefs() {
		spec := specs[r]
		// A message routed to one queue by several bindings is enqueued
		// there once (ARCHITECTURE §1).
		if slices.Contains(*ids, spec.GetId()) {
			continue
		}
		*ids = append(*ids, spec.GetId())
		status, reason := g.enqueueTo(spec, &body, size, now, res)
		// The statuses are numbered by precedence: NoQueue > Rejected > OK.
		if status > out.Status {
			out = EnqueueOutcome{Status: status, Reason: reason}
		}
	}
	if dedup {
		g.dedup.record(producer, seq, g.cur)
	}
	return out
}

// enqueueTo appends one message of size bytes (sizeOf) with payload b to
// one queue, applying its length limits.
func (g *QueueGroup) enqueueTo(spec *fsmpb.QueueSpec, b *msgBody, size uint32, now int64, res *Result) (EnqueueStatus, string) {
	q, err := g.queueFor(spec)
	if err != nil {
		return EnqueueNoQueue, reasonQueueDeleted
	}
	if q.overLimit(size) {
		switch q.spec.GetOverflow() {
		case fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH:
			return EnqueueRejected, q.fullReason(size)
		case fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH_DLX:
			// Rejected, and dead-lettered as RabbitMQ does (reason maxlen);
			// the message never enters the queue, so the state is as with
			// reject-publish.
			q.deadLetter(&queueMsg{env: b.p, size: size}, dlReasonMaxLen, res)
			return EnqueueRejected, q.fullReason(size)
		}
		// Drop-head (the default, and any overflow value this build does not
		// know): make room by discarding the oldest ready messages.
		for q.overLimit(size) {
			old, ok := q.popReady()
			if !ok {
				break
			}
			q.deadLetter(&old, dlReasonMaxLen, res)
		}
	}
	m := queueMsg{id: q.nextMsgID, index: g.cur, expiry: msgExpiry(q.spec, b.p, now), size: size}
	b.set(&m, q)
	q.nextMsgID++
	if q.overLimit(size) {
		// The message alone exceeds the limit (max-length 0, or a message
		// larger than max-length-bytes): with drop-head it is itself the
		// oldest.
		q.deadLetter(&m, dlReasonMaxLen, res)
		return EnqueueOK, ""
	}
	q.pushMain(m)
	g.touch(q)
	return EnqueueOK, ""
}

// overLimit reports whether one more ready message of size bytes would
// exceed the queue's max-length or max-length-bytes. As in RabbitMQ, only
// ready messages count; checked-out ones do not.
func (q *queueState) overLimit(size uint32) bool {
	if l, ok := q.maxLength(); ok && uint64(q.readyLen()+len(q.outbox)) >= l {
		return true
	}
	if b, ok := q.maxBytes(); ok && q.readyBytes+q.outboxBytes+uint64(size) > b {
		return true
	}
	return false
}

// fullReason explains an overLimit to a publisher.
func (q *queueState) fullReason(size uint32) string {
	if l, ok := q.maxLength(); ok && uint64(q.readyLen()+len(q.outbox)) >= l {
		return fmt.Sprintf("queue %q is full (max-length %d)", q.spec.GetName(), l)
	}
	b, _ := q.maxBytes()
	return fmt.Sprintf("queue %q is full (max-length-bytes %d, message of %d bytes)", q.spec.GetName(), b, size)
}
