package amqp

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
)

// callTimeout bounds one broker call made for a method.
const callTimeout = 30 * time.Second

func (ch *channel) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(ch.ctx, callTimeout)
}

// authorize checks needs with the access package, as the gRPC port's
// table does for the same operation; with access off everything passes.
func (ch *channel) authorize(needs ...access.Need) error {
	if z := ch.c.s.cfg.Authorizer; z != nil {
		return z.Authorize(ch.c.user, ch.c.vhost, needs...)
	}
	return nil
}

// checkName refuses names the broker's other port would refuse: not
// UTF-8 (a short string is at most 255 bytes already).
func checkName(what, name string) error {
	if !utf8.ValidString(name) {
		return wire.Errorf(wire.PreconditionFailed, "%s name is not valid UTF-8", what)
	}
	return nil
}

// waitMeta makes what a declaration committed visible to this node's
// next operations (routing reads the local replica).
func (ch *channel) waitMeta(ctx context.Context, idx uint64) error {
	if idx == 0 {
		return nil
	}
	return ch.c.s.cfg.Broker.WaitMetaIndex(ctx, idx)
}

func (ch *channel) exchangeDeclare(m *wire.ExchangeDeclare) error {
	if err := checkName("exchange", m.Exchange); err != nil {
		return err
	}
	if err := ch.authorize(access.DeclareExchangeNeeds(m.Exchange, m.Passive)...); err != nil {
		return err
	}
	b := ch.c.s.cfg.Broker
	ctx, cancel := ch.callCtx()
	defer cancel()
	if m.Passive {
		if _, err := b.Exchange(ch.c.vhost, m.Exchange); err != nil {
			return wire.Errorf(wire.NotFound, "no exchange '%s' in vhost '%s'", m.Exchange, ch.c.vhost)
		}
	} else {
		idx, err := b.DeclareExchange(ctx, broker.ExchangeSpec{
			VHost: ch.c.vhost, Name: m.Exchange, Kind: m.Type, AutoDelete: m.AutoDelete, Internal: m.Internal, Args: brokerTable(m.Arguments),
		})
		if err != nil {
			return err
		}
		if err := ch.waitMeta(ctx, idx); err != nil {
			return err
		}
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.ExchangeDeclareOk{})
}

func (ch *channel) exchangeDelete(m *wire.ExchangeDelete) error {
	if err := ch.authorize(access.OnExchange(access.Configure, m.Exchange)); err != nil {
		return err
	}
	ctx, cancel := ch.callCtx()
	defer cancel()
	idx, err := ch.c.s.cfg.Broker.DeleteExchange(ctx, ch.c.vhost, m.Exchange, m.IfUnused)
	if errors.Is(err, broker.ErrNotFound) && !strings.Contains(err.Error(), "built") {
		err = nil // deleting what is not there succeeds, as in RabbitMQ 3.x
	}
	if err != nil {
		return err
	}
	if err := ch.waitMeta(ctx, idx); err != nil {
		return err
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.ExchangeDeleteOk{})
}

// exchangeBind binds (or unbinds) exchange destination to source.
func (ch *channel) exchangeBind(source, dest, key string, args wire.Table, noWait, bind bool) error {
	if err := ch.authorize(access.BindNeeds(source, dest, true)...); err != nil {
		return err
	}
	bd := broker.Binding{VHost: ch.c.vhost, Exchange: source, Queue: dest, ToExchange: true, Key: key, Args: brokerTable(args)}
	if err := ch.bind(bd, bind); err != nil {
		return err
	}
	if noWait {
		return nil
	}
	if bind {
		return ch.c.send(ch.id, &wire.ExchangeBindOk{})
	}
	return ch.c.send(ch.id, &wire.ExchangeUnbindOk{})
}

func (ch *channel) bind(bd broker.Binding, bind bool) error {
	ctx, cancel := ch.callCtx()
	defer cancel()
	var idx uint64
	var err error
	if bind {
		idx, err = ch.c.s.cfg.Broker.Bind(ctx, bd)
	} else {
		idx, err = ch.c.s.cfg.Broker.Unbind(ctx, bd)
	}
	if err != nil {
		return err
	}
	return ch.waitMeta(ctx, idx)
}

// queueName is the queue a method names; "" is the channel's last
// declared queue (AMQP's rule).
func (ch *channel) queueName(name string) (string, error) {
	if name != "" {
		return name, checkName("queue", name)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.lastQueue == "" {
		return "", wire.Errorf(wire.NotFound, "no queue name given and no queue declared on this channel before")
	}
	return ch.lastQueue, nil
}

func (ch *channel) queueDeclare(m *wire.QueueDeclare) error {
	if err := checkName("queue", m.Queue); err != nil {
		return err
	}
	args := brokerTable(m.Arguments)
	var dlx []string
	for _, k := range [...]string{"x-dead-letter-exchange", "dead-letter-exchange"} {
		if v, ok := args[k]; ok && v.Type == broker.ValueString {
			dlx = append(dlx, v.Str)
		}
	}
	if err := ch.authorize(access.DeclareQueueNeeds(m.Queue, m.Passive, dlx...)...); err != nil {
		return err
	}
	b := ch.c.s.cfg.Broker
	ctx, cancel := ch.callCtx()
	defer cancel()
	var q broker.Queue
	var err error
	if m.Passive {
		q, err = b.Queue(ch.c.vhost, m.Queue)
		if err != nil {
			return wire.Errorf(wire.NotFound, "no queue '%s' in vhost '%s'", m.Queue, ch.c.vhost)
		}
		if q.Exclusive && q.OwnerSession != ch.c.session {
			return wire.Errorf(wire.ResourceLocked, "cannot obtain exclusive access to locked queue '%s' in vhost '%s'", q.Name, ch.c.vhost)
		}
	} else {
		if err := broker.CheckQueueArgs(m.Queue, args); err != nil {
			return err
		}
		var idx uint64
		q, idx, err = b.DeclareQueue(ctx, broker.QueueSpec{
			VHost: ch.c.vhost, Name: m.Queue, Exclusive: m.Exclusive, AutoDelete: m.AutoDelete, Args: args, OwnerSession: ch.c.session,
		})
		if err != nil {
			return err
		}
		if err := ch.waitMeta(ctx, idx); err != nil {
			return err
		}
	}
	ch.mu.Lock()
	ch.lastQueue = q.Name
	ch.mu.Unlock()
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.QueueDeclareOk{Queue: q.Name, MessageCount: uint32(min(q.Ready, 1<<32-1)), ConsumerCount: q.Consumers})
}

func (ch *channel) queueBind(m *wire.QueueBind) error {
	name, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.BindNeeds(m.Exchange, name, false)...); err != nil {
		return err
	}
	if err := ch.bind(broker.Binding{VHost: ch.c.vhost, Exchange: m.Exchange, Queue: name, Key: m.RoutingKey, Args: brokerTable(m.Arguments)}, true); err != nil {
		return err
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.QueueBindOk{})
}

func (ch *channel) queueUnbind(m *wire.QueueUnbind) error {
	name, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.BindNeeds(m.Exchange, name, false)...); err != nil {
		return err
	}
	if err := ch.bind(broker.Binding{VHost: ch.c.vhost, Exchange: m.Exchange, Queue: name, Key: m.RoutingKey, Args: brokerTable(m.Arguments)}, false); err != nil {
		return err
	}
	return ch.c.send(ch.id, &wire.QueueUnbindOk{})
}

func (ch *channel) queuePurge(m *wire.QueuePurge) error {
	name, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.OnQueue(access.Read, name)); err != nil {
		return err
	}
	ctx, cancel := ch.callCtx()
	defer cancel()
	n, err := ch.c.s.cfg.Broker.PurgeQueue(ctx, ch.c.vhost, name, ch.c.session)
	if err != nil {
		return err
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.QueuePurgeOk{MessageCount: uint32(min(n, 1<<32-1))})
}

func (ch *channel) queueDelete(m *wire.QueueDelete) error {
	name, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.OnQueue(access.Configure, name)); err != nil {
		return err
	}
	ctx, cancel := ch.callCtx()
	defer cancel()
	n, idx, err := ch.c.s.cfg.Broker.DeleteQueue(ctx, name, broker.DeleteQueueOptions{
		VHost: ch.c.vhost, Session: ch.c.session, IfUnused: m.IfUnused, IfEmpty: m.IfEmpty,
	})
	if errors.Is(err, broker.ErrNotFound) {
		err = nil // deleting what is not there succeeds, as in RabbitMQ 3.x
	}
	if err != nil {
		return err
	}
	if err := ch.waitMeta(ctx, idx); err != nil {
		return err
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.QueueDeleteOk{MessageCount: uint32(min(n, 1<<32-1))})
}
