package dispatch

import (
	"context"
	"fmt"
	"sync"

	"github.com/warrenmq/warren/fsm"
)

// SettleKind says what a settlement does with its messages.
type SettleKind uint8

// Settlement kinds. Return is a nack/reject with requeue, Discard one
// without (dead-letter or drop).
const (
	Ack     SettleKind = 1
	Return  SettleKind = 2
	Discard SettleKind = 3
)

// Key identifies a consumer within a queue group. A session's gets on a
// queue use an empty Tag.
type Key struct {
	Queue   uint64
	Session string
	Tag     string
}

// Consumer is one live consume stream on the leader. Next is for the one
// goroutine that writes the stream; Settle may be called from another.
type Consumer struct {
	key     Key
	autoAck bool
	// prefetch is the consumer's credit (0: unlimited): how long its
	// settlements may wait to share a Raft entry depends on it.
	prefetch uint32
	d        *Dispatcher

	mu     sync.Mutex
	buf    []Event
	notify chan struct{}
	out    tagSet
	closed bool
	err    error
}

// Event is what a consumer's stream carries: a delivery, or (State) the
// news that the consumer became (Active) or stopped being the active
// consumer of its single-active-consumer queue.
type Event struct {
	Delivery fsm.Delivery
	State    bool
	Active   bool
}

// Key returns the consumer's identity.
func (c *Consumer) Key() Key { return c.key }

// push queues deliveries for the stream; called from the apply path, so it
// never blocks.
func (c *Consumer) push(ds []fsm.Delivery) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	for _, d := range ds {
		c.buf = append(c.buf, Event{Delivery: d})
		c.out.add(d.Tag)
	}
	c.wake()
	c.mu.Unlock()
}

// wake signals the stream; c.mu must be held, so that closeWith cannot
// close notify between the closed check and the send (a send on a
// closed channel panics even in a select with a default).
func (c *Consumer) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// pushState queues the news of an active-consumer change; on the apply
// path, never blocks.
func (c *Consumer) pushState(active bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.buf = append(c.buf, Event{State: true, Active: active})
	c.wake()
	c.mu.Unlock()
}

// Next waits for the next delivery of this consumer. It returns the
// consumer's close error once closed, or ctx.Err().
func (c *Consumer) Next(ctx context.Context) (fsm.Delivery, error) {
	for {
		e, err := c.NextEvent(ctx)
		if err != nil || !e.State {
			return e.Delivery, err
		}
	}
}

// NextEvent is Next, with the consumer's state changes among the
// deliveries, in order.
func (c *Consumer) NextEvent(ctx context.Context) (Event, error) {
	for {
		c.mu.Lock()
		if c.closed {
			err := c.err
			c.mu.Unlock()
			return Event{}, err
		}
		if len(c.buf) > 0 {
			e := c.buf[0]
			c.buf[0] = Event{}
			c.buf = c.buf[1:]
			c.mu.Unlock()
			return e, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// TakeReady takes, without waiting, up to max of the deliveries buffered,
// in order, while fits accepts the next one, and stops at a state change
// (NextEvent hands that over on its own): the stream's writer takes what
// is ready after NextEvent, to send it together. It returns nothing once
// the consumer is closed.
func (c *Consumer) TakeReady(max int, fits func(fsm.Delivery) bool) []fsm.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []fsm.Delivery
	for !c.closed && len(ds) < max && len(c.buf) > 0 && !c.buf[0].State && fits(c.buf[0].Delivery) {
		ds = append(ds, c.buf[0].Delivery)
		c.buf[0] = Event{}
		c.buf = c.buf[1:]
	}
	return ds
}

// Sent tells the dispatcher deliveries were written to the stream. For an
// auto-ack consumer that is the moment they count as acknowledged, so
// their credit is released with a batched Settle (one for the tags of one
// call).
func (c *Consumer) Sent(tags ...uint64) {
	if !c.autoAck || len(tags) == 0 {
		return
	}
	acked := make([]uint64, 0, len(tags))
	c.mu.Lock()
	for _, tag := range tags {
		if c.out.remove(tag) {
			acked = append(acked, tag)
		}
	}
	c.mu.Unlock()
	if len(acked) > 0 {
		c.d.enqueue(c.key, Ack, acked, c)
	}
}

// AckSent acknowledges tags of an auto-ack consumer that an earlier
// stream of it was sent, whose Ack was not committed before that stream
// ended (broker's Subscribe finds them in the state on re-attach). No-op
// for a manual-ack consumer.
func (c *Consumer) AckSent(tags []uint64) {
	if !c.autoAck || len(tags) == 0 {
		return
	}
	c.d.enqueue(c.key, Ack, tags, c)
}

// Settle acks (Ack), requeues (Return) or discards (Discard) the delivery
// tag, or with multiple every outstanding tag up to it (all of them when tag
// is 0). Tags not outstanding are refused with ErrUnknownTag and nothing is
// settled. The returned channel yields the outcome of the Raft command that
// carries it; stream acks may ignore it.
func (c *Consumer) Settle(kind SettleKind, tag uint64, multiple bool) (<-chan error, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrConsumerClosed
	}
	if c.autoAck {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w %d: consumer %q acknowledges automatically", ErrUnknownTag, tag, c.key.Tag)
	}
	var tags []uint64
	if multiple {
		tags = c.out.removeUpTo(tag)
		if len(tags) == 0 && tag != 0 {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w %d", ErrUnknownTag, tag)
		}
	} else if c.out.remove(tag) {
		tags = []uint64{tag}
	} else {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w %d", ErrUnknownTag, tag)
	}
	c.mu.Unlock()
	if len(tags) == 0 {
		done := make(chan error, 1)
		done <- nil
		return done, nil
	}
	return c.d.enqueue(c.key, kind, tags, c), nil
}

// needsCredit reports whether the consumer may be waiting for the credit
// that settling more tags gives back: its deliveries not yet settled in
// the state (out, sent or still to be sent, and the uncommitted ones the
// client settled) take at least half its prefetch. Its settlements are
// then proposed at once; otherwise they may linger (settleLinger). c.mu
// must not be held.
func (c *Consumer) needsCredit(uncommitted int) bool {
	if c.prefetch == 0 {
		return false
	}
	c.mu.Lock()
	held := c.out.len() + uncommitted
	c.mu.Unlock()
	return 2*held >= int(c.prefetch)
}

// Unacked is the number of outstanding deliveries.
func (c *Consumer) Unacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.len()
}

// Close ends the consumer: after every settlement it already sent, a Cancel
// returns its unacked deliveries to the queue. Idempotent.
func (c *Consumer) Close() {
	if c.closeWith(ErrConsumerClosed) {
		c.d.unregister(c, true)
	}
}

// CloseWait is Close, then waits until the Cancel (and so every settlement
// sent before it) has committed, or ctx ends: a stream that ends only then
// tells its client that the consumer is gone from the queue's state, so a
// listing it makes next shows it gone. It returns the Cancel's error, and
// nil when the consumer was already closed (its Cancel is someone else's
// to wait for).
func (c *Consumer) CloseWait(ctx context.Context) error {
	if !c.closeWith(ErrConsumerClosed) {
		return nil
	}
	select {
	case err := <-c.d.unregister(c, true):
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeWith marks the consumer closed; it reports whether this call did it.
func (c *Consumer) closeWith(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed, c.err, c.buf = true, err, nil
	close(c.notify)
	return true
}
