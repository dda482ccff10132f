package amqp

import (
	"errors"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
)

// maxPublishBatch bounds the publishes of one channel committed by one
// broker call: the group commit that makes confirms cheap.
const maxPublishBatch = 128

// publish runs consecutive basic.publish commands of the channel. Each is
// checked in order (permission, immediate, properties); the first that
// fails closes the channel after the ones before it were published, as
// RabbitMQ, which handles them one after another, would.
func (ch *channel) publish(batch []command) error {
	entries := make([]broker.PublishEntry, 0, len(batch))
	cmds := batch[:0:0]
	var refusal error
	checkUser := ch.c.s.cfg.Authenticator != nil
	for _, cmd := range batch {
		p := cmd.m.(*wire.BasicPublish)
		if p.Immediate {
			refusal = wire.Errorf(wire.NotImplemented, "immediate=true (RabbitMQ does not support it either)")
			break
		}
		if err := ch.authorize(access.OnExchange(access.Write, p.Exchange)); err != nil {
			refusal = err
			break
		}
		msg, err := brokerMessage(cmd.props, cmd.body, ch.c.user.Name, checkUser)
		if err != nil {
			refusal = err
			break
		}
		// The sequence, under the channel's publisher id, lets the broker
		// drop the copy a retry after a leader change would enqueue twice.
		ch.dedupSeq++
		entries = append(entries, broker.PublishEntry{Exchange: p.Exchange, RoutingKey: p.RoutingKey, Message: msg, Mandatory: p.Mandatory, Sequence: ch.dedupSeq})
		cmds = append(cmds, cmd)
	}
	if len(entries) > 0 {
		if err := ch.publishEntries(entries, cmds); err != nil {
			return err
		}
	}
	return refusal
}

// publishEntries publishes and answers: basic.return for unroutable
// mandatory messages, then (in confirm mode) basic.ack, or basic.nack for
// what the broker did not take.
func (ch *channel) publishEntries(entries []broker.PublishEntry, cmds []command) error {
	first := ch.publishSeq + 1
	if ch.confirm {
		ch.publishSeq += uint64(len(entries))
	}
	var outcomes []broker.PublishOutcome
	var err error
	if check := ch.c.s.cfg.Resources; check != nil {
		err = check()
	}
	if err == nil {
		ctx, cancel := ch.callCtx()
		err = retryLeaderMoves(ctx, func() error {
			var err error
			outcomes, err = ch.c.s.cfg.Broker.Publish(ctx, ch.c.vhost, ch.publisher, entries)
			return err
		})
		cancel()
	}
	if err != nil && clientError(err) {
		if len(entries) > 1 {
			// One of them is at fault: publish them one by one, so that
			// those before it go and it closes the channel.
			if ch.confirm {
				ch.publishSeq = first - 1
			}
			for i := range entries {
				if err := ch.publishEntries(entries[i:i+1], cmds[i:i+1]); err != nil {
					return err
				}
			}
			return nil
		}
		if errors.Is(err, broker.ErrNotFound) {
			return wire.Errorf(wire.NotFound, "no exchange '%s' in vhost '%s' (%v)", entries[0].Exchange, ch.c.vhost, err)
		}
		return err
	}
	if err != nil {
		// Not the client's doing (no leader, a watermark, the node
		// stopping): not confirmed. A confirming publisher gets nacks
		// and publishes again.
		ch.c.s.log.Debug("amqp publish failed", "error", err, "messages", len(entries))
		if ch.confirm {
			return ch.c.send(ch.id, &wire.BasicNack{DeliveryTag: first + uint64(len(entries)) - 1, Multiple: true})
		}
		return nil
	}
	allAcked := true
	for i, o := range outcomes {
		switch o.Status {
		case broker.PublishUnroutable:
			p := cmds[i].m.(*wire.BasicPublish)
			if err := ch.c.sendContent(ch.id, &wire.BasicReturn{ReplyCode: wire.NoRoute, ReplyText: "NO_ROUTE", Exchange: p.Exchange, RoutingKey: p.RoutingKey}, cmds[i].props, cmds[i].body); err != nil {
				return err
			}
		case broker.PublishRejected:
			allAcked = false
		}
	}
	if !ch.confirm {
		return nil
	}
	if allAcked {
		return ch.c.send(ch.id, &wire.BasicAck{DeliveryTag: first + uint64(len(entries)) - 1, Multiple: len(entries) > 1})
	}
	for i, o := range outcomes {
		tag := first + uint64(i)
		var m wire.Method = &wire.BasicAck{DeliveryTag: tag}
		if o.Status == broker.PublishRejected {
			m = &wire.BasicNack{DeliveryTag: tag}
		}
		if err := ch.c.send(ch.id, m); err != nil {
			return err
		}
	}
	return nil
}

// clientError reports whether a publish failed for what the client sent
// (a missing or internal exchange, a bad header), which closes its
// channel, rather than for the cluster's state.
func clientError(err error) bool {
	return errors.Is(err, broker.ErrNotFound) || errors.Is(err, broker.ErrAccessRefused) || errors.Is(err, broker.ErrInvalid) ||
		errors.Is(err, broker.ErrPrecondition)
}
