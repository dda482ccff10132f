package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// SubscribeOptions are the settings of one consumer.
type SubscribeOptions struct {
	Queue   string
	Session string
	Tag     string
	// Prefetch is the most unacked deliveries out at once; 0 is unlimited.
	Prefetch uint32
	AutoAck  bool
}

// Subscribe attaches a consumer to a queue on this node, which must lead
// the queue's group. The caller reads deliveries with Consumer.Next and
// must Close the consumer when its stream ends.
func (n *Node) Subscribe(ctx context.Context, o SubscribeOptions) (*dispatch.Consumer, error) {
	def, qg, err := n.lookupQueueCaughtUp(ctx, o.Queue)
	if err != nil {
		return nil, err
	}
	if def.Exclusive && def.OwnerSession != o.Session {
		return nil, fmt.Errorf("%w: queue %q is exclusive to another session", fsm.ErrPrecondition, o.Queue)
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
	var c *dispatch.Consumer
	var resend []fsm.Delivery
	qg.fsm.read(func(g *fsm.QueueGroup) {
		c, err = d.Register(dispatch.Key{Queue: def.ID, Session: o.Session, Tag: o.Tag}, o.AutoAck)
		if err != nil {
			return
		}
		for _, dv := range g.CheckedOut(o.Session) {
			if dv.Queue == def.ID && dv.ConsumerTag == o.Tag && dv.Payload != nil {
				dv.Redelivered = true
				resend = append(resend, dv)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	d.Deliver(resend)
	res, err := qg.Propose(ctx, fsm.Command{Type: fsm.CmdCheckout, Body: &fsmpb.Checkout{
		Queue: def.Spec, Session: o.Session, ConsumerTag: o.Tag, Prefetch: o.Prefetch, AutoAck: o.AutoAck, NowMs: nowMs(),
	}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		d.Forget(c)
		return nil, err
	}
	return c, nil
}

// GetOptions are the settings of one Get.
type GetOptions struct {
	Queue   string
	Session string
	AutoAck bool
	// Lease bounds how long an unacked get stays out; 0 = the node default.
	Lease time.Duration
}

// Get takes one ready message, or returns nil when the queue is empty,
// with the number of ready messages left.
func (n *Node) Get(ctx context.Context, o GetOptions) (*fsm.Delivery, uint64, error) {
	def, qg, err := n.lookupQueueCaughtUp(ctx, o.Queue)
	if err != nil {
		return nil, 0, err
	}
	if def.Exclusive && def.OwnerSession != o.Session {
		return nil, 0, fmt.Errorf("%w: queue %q is exclusive to another session", fsm.ErrPrecondition, o.Queue)
	}
	if !o.AutoAck && n.sessions.live(o.Session) {
		// The session's stream ends here; remember to release this group.
		n.sessions.noteGet(o.Session, def.Group)
	}
	d, err := qg.dispatcher()
	if err != nil {
		return nil, 0, err
	}
	lease := o.Lease
	if lease <= 0 {
		lease = n.cfg.DefaultGetLease
	}
	now := time.Now()
	res, err := qg.Propose(ctx, fsm.Command{Type: fsm.CmdGet, Body: &fsmpb.Get{
		Queue: def.Spec, Session: o.Session, AutoAck: o.AutoAck, LeaseUntilMs: now.Add(lease).UnixMilli(), NowMs: now.UnixMilli(),
	}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return nil, 0, err
	}
	if res.Got != nil && !o.AutoAck {
		d.TrackGet(*res.Got)
	}
	return res.Got, res.Count, nil
}

// SettleGetOptions names deliveries taken with Get and what to do with them.
type SettleGetOptions struct {
	Queue    string
	Session  string
	Kind     dispatch.SettleKind
	Tag      uint64
	Multiple bool
}

// SettleGet acks, requeues or discards deliveries taken with Get and waits
// until that is committed.
func (n *Node) SettleGet(ctx context.Context, o SettleGetOptions) error {
	def, qg, err := n.lookupQueue(o.Queue)
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

// SessionOpened records a live session stream.
func (n *Node) SessionOpened(id string) { n.sessions.open(id) }

// SessionClosed records the end of a session stream. When it was the
// session's last, its unacked gets return to their queues (redelivered) and
// its exclusive queues are deleted.
func (n *Node) SessionClosed(ctx context.Context, id string) {
	if !n.sessions.close(id) {
		return
	}
	gotFrom := n.sessions.takeGets(id)
	for _, qg := range n.queues {
		holds := gotFrom[uint32(qg.idx)]
		if !holds {
			qg.fsm.read(func(g *fsm.QueueGroup) { holds = slices.Contains(g.Sessions(), id) })
		}
		if !holds {
			continue
		}
		var err error
		if d, derr := qg.dispatcher(); derr == nil {
			err = d.SessionDown(ctx, []string{id})
		} else {
			_, err = qg.Propose(ctx, fsm.Command{Type: fsm.CmdSessionDown, Body: &fsmpb.SessionDown{Sessions: []string{id}}})
		}
		if err != nil {
			n.logger.Warn("session down failed", "session", id, "error", err)
		}
	}
	var owns bool
	n.readMeta(func(m *fsm.Meta) { owns = slices.Contains(m.ExclusiveOwners(), id) })
	if owns {
		n.downMetaSessions(ctx, []string{id})
	}
}

func (n *Node) downMetaSessions(ctx context.Context, sessions []string) {
	res, _, err := n.proposeMeta(ctx, fsm.CmdMetaSessionDown, &fsmpb.MetaSessionDown{Sessions: sessions})
	if err != nil {
		n.logger.Warn("could not delete exclusive queues of ended sessions", "error", err)
		return
	}
	n.dropQueues(ctx, res.DroppedQueues)
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
