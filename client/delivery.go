package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// Delivery is a message delivered to a subscription or taken with Get. Its
// fields are read-only. Its settle methods (Ack, AckMultiple, Nack, Reject)
// are safe for concurrent use; exactly one settle of a delivery is sent, every
// other returns ErrAlreadySettled.
//
// Deliveries of a subscription are settled on its stream; those taken with
// Get through the Settle RPC, with the client's session id and the queue.
type Delivery struct {
	// Message holds the body, headers and properties.
	Message
	// Exchange is the exchange the message was published to.
	Exchange string
	// RoutingKey is the routing key the message was published with.
	RoutingKey string
	// Queue is the queue the message was taken from.
	Queue string
	// ConsumerTag names the subscription; empty for Get.
	ConsumerTag string
	// DeliveryTag identifies the delivery within its session, increasing.
	DeliveryTag uint64
	// Redelivered is true when the message was delivered before.
	Redelivered bool
	// DeliveryCount is how many times the message was delivered before this
	// delivery (0 on the first).
	DeliveryCount uint32
	// MessageCount is, for Get, the number of ready messages left in the
	// queue; 0 for subscription deliveries.
	MessageCount uint64

	settler settler
	settled atomic.Bool
}

// NackOptions are the settings of Nack; the zero value dead-letters (or
// drops) this one delivery.
type NackOptions struct {
	// Requeue returns the message to its queue, redelivered, instead of
	// dead-lettering or dropping it.
	Requeue bool
	// Multiple also nacks every unsettled delivery of the same subscription
	// (for Get: of the same queue) with a smaller delivery tag.
	Multiple bool
}

// RejectOptions are the settings of Reject; the zero value dead-letters (or
// drops) the delivery.
type RejectOptions struct {
	// Requeue returns the message to its queue, redelivered.
	Requeue bool
}

// settler sends a settle for a delivery.
type settler interface {
	settle(ctx context.Context, d *Delivery, s *warrenpb.Settle) error
}

func deliveryFromProto(pd *warrenpb.Delivery) *Delivery {
	return &Delivery{
		Message:       messageFromProto(pd.GetMessage()),
		Exchange:      pd.GetExchange(),
		RoutingKey:    pd.GetRoutingKey(),
		Queue:         pd.GetQueue(),
		ConsumerTag:   pd.GetConsumerTag(),
		DeliveryTag:   pd.GetDeliveryTag(),
		Redelivered:   pd.GetRedelivered(),
		DeliveryCount: pd.GetDeliveryCount(),
	}
}

// Settled reports whether the delivery has been settled: by a settle method,
// by a Multiple settle of a later delivery, or by auto-ack.
func (d *Delivery) Settled() bool { return d.settled.Load() }

// Ack acknowledges the delivery: the message is done and leaves its queue.
func (d *Delivery) Ack(ctx context.Context) error {
	return d.doSettle(ctx, &warrenpb.Settle{Kind: warrenpb.SettleKind_SETTLE_KIND_ACK})
}

// AckMultiple acknowledges the delivery and every unsettled delivery of the
// same subscription (for Get: of the same queue) with a smaller tag.
func (d *Delivery) AckMultiple(ctx context.Context) error {
	return d.doSettle(ctx, &warrenpb.Settle{Kind: warrenpb.SettleKind_SETTLE_KIND_ACK, Multiple: true})
}

// Nack negatively acknowledges the delivery (and with o.Multiple the earlier
// ones): requeued with o.Requeue, else dead-lettered or dropped.
func (d *Delivery) Nack(ctx context.Context, o NackOptions) error {
	return d.doSettle(ctx, &warrenpb.Settle{Kind: warrenpb.SettleKind_SETTLE_KIND_NACK, Multiple: o.Multiple, Requeue: o.Requeue})
}

// Reject rejects the delivery: requeued with o.Requeue, else dead-lettered or
// dropped.
func (d *Delivery) Reject(ctx context.Context, o RejectOptions) error {
	return d.doSettle(ctx, &warrenpb.Settle{Kind: warrenpb.SettleKind_SETTLE_KIND_REJECT, Requeue: o.Requeue})
}

func (d *Delivery) doSettle(ctx context.Context, s *warrenpb.Settle) error {
	if d.settler == nil {
		if d.settled.Load() {
			return fmt.Errorf("%w: delivery %d was auto-acked", ErrAlreadySettled, d.DeliveryTag)
		}
		return fmt.Errorf("%w: delivery %d has no source to settle with", ErrInvalidArgument, d.DeliveryTag)
	}
	s.DeliveryTag = d.DeliveryTag
	return d.settler.settle(ctx, d, s)
}

// ledger tracks the unsettled deliveries of one subscription (or of the
// session's gets) so that each is settled once, including through Multiple.
type ledger struct {
	mu  sync.Mutex
	out map[uint64]*Delivery // by delivery tag
}

func (l *ledger) init() { l.out = make(map[uint64]*Delivery) }

// add records d as unsettled.
func (l *ledger) add(d *Delivery) {
	l.mu.Lock()
	l.out[d.DeliveryTag] = d
	l.mu.Unlock()
}

// claim marks d settled and, with multiple, every unsettled delivery of the
// same queue with a smaller tag; it returns what it marked, or
// ErrAlreadySettled when d was settled before.
func (l *ledger) claim(d *Delivery, multiple bool) ([]*Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !d.settled.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: delivery %d", ErrAlreadySettled, d.DeliveryTag)
	}
	delete(l.out, d.DeliveryTag)
	claimed := []*Delivery{d}
	if multiple {
		for tag, o := range l.out {
			if tag < d.DeliveryTag && o.Queue == d.Queue {
				o.settled.Store(true)
				delete(l.out, tag)
				claimed = append(claimed, o)
			}
		}
	}
	return claimed, nil
}

// unclaim undoes claim after the settle could not be sent.
func (l *ledger) unclaim(ds []*Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range ds {
		d.settled.Store(false)
		l.out[d.DeliveryTag] = d
	}
}

// reset forgets every tracked delivery (their session or stream is gone).
func (l *ledger) reset() {
	l.mu.Lock()
	clear(l.out)
	l.mu.Unlock()
}

// getSettler settles deliveries taken with Get through the Settle RPC.
type getSettler struct{ c *Client }

func (g getSettler) settle(ctx context.Context, d *Delivery, s *warrenpb.Settle) error {
	claimed, err := g.c.gets.claim(d, s.GetMultiple())
	if err != nil {
		return err
	}
	// Retried only after NOT_LEADER: after an unknown outcome the server
	// refuses a second settle of the same tag, which would hide whether the
	// first one took effect. The error lets the caller decide.
	err = g.c.call(ctx, retryUnsent, func(ctx context.Context, cn *conn) error {
		_, err := cn.api.Settle(ctx, &warrenpb.SettleRequest{
			SessionId: g.c.opts.sessionID,
			Queue:     d.Queue,
			Settle:    s,
		})
		return err
	})
	if err != nil {
		// Let the caller retry; a duplicate settle is refused by the server.
		g.c.gets.unclaim(claimed)
		return err
	}
	return nil
}
