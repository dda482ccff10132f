package broker

import (
	"context"
	"fmt"

	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// SettleKind is what a consumer does with a delivery.
type SettleKind = dispatch.SettleKind

// Settle kinds.
const (
	// Ack: processed; the message goes.
	Ack = dispatch.Ack
	// Return: back to its queue, redelivered (nack or reject with requeue).
	Return = dispatch.Return
	// Discard: dropped, or dead-lettered (nack or reject without requeue).
	Discard = dispatch.Discard
)

// Errors of consumers and settlements.
var (
	// ErrUnknownTag: no delivery with that tag is outstanding.
	ErrUnknownTag = dispatch.ErrUnknownTag
	// ErrConsumerExists: the session already has a consumer with that tag
	// on the queue.
	ErrConsumerExists = dispatch.ErrConsumerExists
	// ErrStopped: the queue's leader stopped serving here (leadership
	// moved, or the node stops); subscribe again.
	ErrStopped = dispatch.ErrStopped
	// ErrConsumerClosed: the consumer was closed or its session ended.
	ErrConsumerClosed = dispatch.ErrConsumerClosed
)

// Consumer is one consumer attached to a queue on its group's leader.
type Consumer struct {
	c      *dispatch.Consumer
	active bool
	group  string
	// fill reads a delivery's body back from its group's body store
	// (queueGroup.fill), and fillMany those of many deliveries
	// (queueGroup.fillMany): the dispatcher holds deliveries without
	// bodies until they are sent.
	fill     func(*fsmpb.Payload) (*fsmpb.Payload, error)
	fillMany func([]*fsmpb.Payload) ([]*fsmpb.Payload, error)
}

// delivery is d as the API's Delivery, its body read back in.
func (c *Consumer) delivery(d fsm.Delivery) (Delivery, error) {
	p, err := c.fill(d.Payload)
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %d of queue %q: %w", d.Tag, d.QueueName, err)
	}
	d.Payload = p
	return delivery(d), nil
}

// ConsumerEvent is a delivery, or (State) the news that the consumer became
// (Active) or stopped being the active consumer of its
// single-active-consumer queue.
type ConsumerEvent struct {
	Delivery Delivery
	State    bool
	Active   bool
}

// Active reports whether the consumer got deliveries when it subscribed:
// false for a waiting consumer of a single-active-consumer queue.
func (c *Consumer) Active() bool { return c.active }

// Group names the queue's Raft group, whose leader serves the consumer
// (clients match it against leader notices, QueueGroupLeaders).
func (c *Consumer) Group() string { return c.group }

// NextEvent is Next with the consumer's state changes, in order.
func (c *Consumer) NextEvent(ctx context.Context) (ConsumerEvent, error) {
	e, err := c.c.NextEvent(ctx)
	if err != nil {
		return ConsumerEvent{}, err
	}
	if e.State {
		return ConsumerEvent{State: true, Active: e.Active}, nil
	}
	d, err := c.delivery(e.Delivery)
	if err != nil {
		return ConsumerEvent{}, err
	}
	return ConsumerEvent{Delivery: d}, nil
}

// Next waits for the next delivery within the consumer's prefetch.
func (c *Consumer) Next(ctx context.Context) (Delivery, error) {
	d, err := c.c.Next(ctx)
	if err != nil {
		return Delivery{}, err
	}
	return c.delivery(d)
}

// TakeReady takes, without waiting, up to max of the deliveries ready (no
// state change before them) whose bodies come to at most maxBodyBytes in
// all, and reads their bodies back together (bodystore.ReadMany: one read
// for records that lie one after another). A stream sends them in one
// message. An error is a body that could not be read back.
func (c *Consumer) TakeReady(max, maxBodyBytes int) ([]Delivery, error) {
	bytes := 0
	fds := c.c.TakeReady(max, func(d fsm.Delivery) bool {
		n := bodyLen(d.Payload)
		if bytes+n > maxBodyBytes {
			return false
		}
		bytes += n
		return true
	})
	if len(fds) == 0 {
		return nil, nil
	}
	ps := make([]*fsmpb.Payload, len(fds))
	for i := range fds {
		ps[i] = fds[i].Payload
	}
	ps, err := c.fillMany(ps)
	if err != nil {
		return nil, fmt.Errorf("deliveries %d to %d of queue %q: %w", fds[0].Tag, fds[len(fds)-1].Tag, fds[0].QueueName, err)
	}
	ds := make([]Delivery, len(fds))
	for i, fd := range fds {
		fd.Payload = ps[i]
		ds[i] = delivery(fd)
	}
	return ds, nil
}

// bodyLen is the length of p's body, in the payload or in the body store.
func bodyLen(p *fsmpb.Payload) int {
	if n := len(p.GetBody()); n > 0 {
		return n
	}
	return int(p.GetBodyRef().GetLength())
}

// Sent records that the deliveries with tags reached the client (an
// auto-ack delivery releases its prefetch credit then).
func (c *Consumer) Sent(tags ...uint64) { c.c.Sent(tags...) }

// Settle acks, returns or discards the delivery with tag, or with multiple
// every outstanding one up to it (all of them when tag is 0). Tags not
// outstanding are refused with ErrUnknownTag. It returns once the
// settlement is queued for the log, which commits it in the next flush.
func (c *Consumer) Settle(kind SettleKind, tag uint64, multiple bool) error {
	_, err := c.c.Settle(kind, tag, multiple)
	return err
}

// Close detaches the consumer; its unacked deliveries return to the queue.
func (c *Consumer) Close() { c.c.Close() }

// CloseWait is Close, and waits (bounded by ctx) until the consumer's
// Cancel, behind every settlement it sent, has committed: what the client
// did is then in the queue's state before its stream ends.
func (c *Consumer) CloseWait(ctx context.Context) error { return c.c.CloseWait(ctx) }
