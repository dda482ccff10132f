package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// SubscribeOptions are the settings of one consumer.
type SubscribeOptions struct {
	VHost   string
	Queue   string
	Session string
	Tag     string
	// Prefetch is the most unacked deliveries out at once; 0 is unlimited.
	Prefetch uint32
	AutoAck  bool
	// Priority is the consumer's x-priority.
	Priority int32
	// Timeout is the consumer's own consumer timeout; 0: the queue's
	// x-consumer-timeout, else the node's.
	Timeout time.Duration
}

// Subscribe attaches a consumer to a queue on this node, which must lead
// the queue's group (else the error says where the leader is: see
// LeaderElsewhere and Redirect). The caller reads deliveries with
// Consumer.Next and must Close the consumer when its stream ends.
func (b *Broker) Subscribe(ctx context.Context, o SubscribeOptions) (*Consumer, error) {
	def, qg, err := b.lookupQueueCaughtUp(ctx, o.VHost, o.Queue)
	if err != nil {
		return nil, err
	}
	if err := exclusiveTo(def, o.Session); err != nil {
		return nil, err
	}
	d, err := qg.dispatcher()
	if err != nil {
		return nil, err
	}
	// Register and look up what the state already has checked out to this
	// consumer atomically with respect to Apply (which delivers under the
	// write lock): a consumer that re-attaches — its stream ended with a
	// leader that died — gets its unacked deliveries again, marked
	// redelivered, instead of holding credit nobody can use.
	//
	// An auto-ack consumer's deliveries leave the state when assigned and
	// count as acknowledged once written to a stream; the Ack that gives
	// back their credit follows. A stream that ended in between (its
	// leader moved) leaves such tags checked out without a body: they are
	// acknowledged now, or they would hold the consumer's credit for good
	// and, with prefetch 1, stop its deliveries.
	var c *dispatch.Consumer
	var resend []fsm.Delivery
	var sent []uint64
	qg.fsm.read(func(g *fsm.QueueGroup) {
		c, err = d.Register(dispatch.Key{Queue: def.ID, Session: o.Session, Tag: o.Tag}, o.AutoAck, o.Prefetch)
		if err != nil {
			return
		}
		for _, dv := range g.CheckedOut(o.Session) {
			switch {
			case dv.Queue != def.ID || dv.ConsumerTag != o.Tag:
			case dv.Payload != nil:
				dv.Redelivered = true
				resend = append(resend, dv)
			case o.AutoAck:
				sent = append(sent, dv.Tag)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	d.Deliver(resend)
	checkout := &fsmpb.Checkout{
		Queue: def.Spec, Session: o.Session, ConsumerTag: o.Tag, Prefetch: o.Prefetch, AutoAck: o.AutoAck, NowMs: nowMs(),
	}
	if o.Priority != 0 || o.Timeout != 0 {
		if !qg.features.ok() {
			d.Forget(c)
			return nil, fmt.Errorf("%w: consumer priorities and timeouts need every node of the cluster at FSM version %d (an upgrade is under way)", fsm.ErrPrecondition, featuresVersion)
		}
		checkout.Priority = o.Priority
	}
	if !o.AutoAck && qg.features.ok() {
		checkout.TimeoutMs = b.consumerTimeout(def.Spec, o.Timeout).Milliseconds()
	}
	if _, err := qg.run(ctx, checkout); err != nil {
		d.Forget(c)
		return nil, err
	}
	c.AckSent(sent)
	var active bool
	qg.fsm.read(func(g *fsm.QueueGroup) { active = g.ConsumerActive(def.ID, o.Session, o.Tag) })
	return &Consumer{c: c, active: active, group: qg.name, fill: qg.fill, fillMany: qg.fillMany}, nil
}

// consumerTimeout is a consumer's timeout: its own, else its queue's
// x-consumer-timeout, else the node's.
func (b *Broker) consumerTimeout(spec *fsmpb.QueueSpec, own time.Duration) time.Duration {
	switch {
	case own > 0:
		return own
	case spec.ConsumerTimeoutMs != nil:
		return time.Duration(*spec.ConsumerTimeoutMs) * time.Millisecond
	}
	return b.cfg.ConsumerTimeout
}

// GetOptions are the settings of one Get.
type GetOptions struct {
	VHost   string
	Queue   string
	Session string
	AutoAck bool
	// Lease bounds how long an unacked get stays out; 0 = the node default.
	Lease time.Duration
}

// Get takes one ready message, or returns nil when the queue is empty,
// with the number of ready messages left. This node must lead the queue's
// group.
func (b *Broker) Get(ctx context.Context, o GetOptions) (*Delivery, uint64, error) {
	def, qg, err := b.lookupQueueCaughtUp(ctx, o.VHost, o.Queue)
	if err != nil {
		return nil, 0, err
	}
	if err := exclusiveTo(def, o.Session); err != nil {
		return nil, 0, err
	}
	if !o.AutoAck && b.sessions.live(o.Session) {
		// The session's stream ends here; remember to release this group.
		b.sessions.noteGet(o.Session, def.Group)
	}
	d, err := qg.dispatcher()
	if err != nil {
		return nil, 0, err
	}
	lease := o.Lease
	if lease <= 0 {
		lease = b.cfg.DefaultGetLease
	}
	now := time.Now()
	res, err := qg.run(ctx, &fsmpb.Get{
		Queue: def.Spec, Session: o.Session, AutoAck: o.AutoAck, LeaseUntilMs: now.Add(lease).UnixMilli(), NowMs: now.UnixMilli(),
	})
	if err != nil {
		return nil, 0, err
	}
	if res.Got == nil {
		return nil, res.Count, nil
	}
	if !o.AutoAck {
		d.TrackGet(*res.Got)
	}
	// The body of a Get without ack was read under the apply lock
	// (bodyKeeper.fillGone); an acked one's is still referenced.
	payload, err := qg.fill(res.Got.Payload)
	if err != nil {
		return nil, 0, fmt.Errorf("get from queue %q: %w", def.Name, err)
	}
	g := *res.Got
	g.Payload = payload
	got := delivery(g)
	return &got, res.Count, nil
}

// SettleGetOptions names deliveries taken with Get and what to do with them.
type SettleGetOptions struct {
	VHost    string
	Queue    string
	Session  string
	Kind     SettleKind
	Tag      uint64
	Multiple bool
}

// SettleGet acks, requeues or discards deliveries taken with Get and waits
// until that is committed.
func (b *Broker) SettleGet(ctx context.Context, o SettleGetOptions) error {
	def, qg, err := b.lookupQueue(o.VHost, o.Queue)
	if err != nil {
		return err
	}
	d, err := qg.dispatcher()
	if err != nil {
		return err
	}
	// A get whose lease ran out was returned by a Tick the dispatcher does
	// not see; settling its old tag would succeed and do nothing, while the
	// message goes to someone else. Refuse it as RabbitMQ refuses an
	// unknown tag.
	if !o.Multiple && !getOutstanding(qg, def.ID, o.Session, o.Tag) {
		return fmt.Errorf("%w %d: no unacked get with that tag on this queue in this session (its lease may have run out)", dispatch.ErrUnknownTag, o.Tag)
	}
	done, err := d.SettleGet(def.ID, o.Session, o.Kind, o.Tag, o.Multiple)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getOutstanding reports whether the group's state still has get tag of
// session checked out on queue.
func getOutstanding(qg *queueGroup, queue uint64, session string, tag uint64) bool {
	var out bool
	qg.fsm.read(func(g *fsm.QueueGroup) {
		for _, dv := range g.CheckedOut(session) {
			if dv.Queue == queue && dv.ConsumerTag == "" && dv.Tag == tag {
				out = true
				return
			}
		}
	})
	return out
}
