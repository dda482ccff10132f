package broker

import (
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// The broker's API types and the log records (fsmpb) they are stored as.
// The log format must not change when the API does, so the two never share
// types; this file is the one place that converts between them.

// logValue is v as stored in the log.
func logValue(v Value) *fsmpb.Value { return fsm.StoredValue(v) }

// logValues is m as stored in the log; nil stays nil.
func logValues(m map[string]Value) map[string]*fsmpb.Value {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*fsmpb.Value, len(m))
	for k, v := range m {
		out[k] = logValue(v)
	}
	return out
}

// logPayload is what a published message is stored as: the body slice is
// shared, not copied (it is copied once, into the Raft entry).
func logPayload(e *PublishEntry) *fsmpb.Payload {
	m, p := &e.Message, &e.Message.Properties
	return &fsmpb.Payload{
		Body:    m.Body,
		Headers: logValues(m.Headers),
		Properties: &fsmpb.Properties{
			ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, MessageId: p.MessageID,
			CorrelationId: p.CorrelationID, ReplyTo: p.ReplyTo, ExpirationMs: p.ExpirationMs,
			TimestampMs: p.TimestampMs, Type: p.Type, AppId: p.AppID, UserId: p.UserID, Priority: p.Priority,
		},
		Exchange:    e.Exchange,
		RoutingKey:  e.RoutingKey,
		Redelivered: e.redelivered,
	}
}

// message is a stored payload as the API's Message.
func message(pl *fsmpb.Payload) Message {
	p := pl.GetProperties()
	return Message{
		Body:    pl.GetBody(),
		Headers: fsm.RoutingArgs(pl.GetHeaders()),
		Properties: Properties{
			ContentType: p.GetContentType(), ContentEncoding: p.GetContentEncoding(), MessageID: p.GetMessageId(),
			CorrelationID: p.GetCorrelationId(), ReplyTo: p.GetReplyTo(), ExpirationMs: p.GetExpirationMs(),
			TimestampMs: p.GetTimestampMs(), Type: p.GetType(), AppID: p.GetAppId(), UserID: p.GetUserId(), Priority: p.GetPriority(),
		},
	}
}

// delivery is an assigned message as the API's Delivery.
func delivery(d fsm.Delivery) Delivery {
	return Delivery{
		Tag: d.Tag, Queue: d.QueueName, ConsumerTag: d.ConsumerTag, DeliveryCount: d.DeliveryCount, Redelivered: d.Redelivered,
		Exchange: d.Payload.GetExchange(), RoutingKey: d.Payload.GetRoutingKey(), Message: message(d.Payload),
	}
}

func exchange(d fsm.ExchangeDef) Exchange {
	return Exchange{
		ExchangeSpec: ExchangeSpec{VHost: d.VHost, Name: d.Name, Kind: d.KindName(), AutoDelete: d.AutoDelete, Internal: d.Internal, Args: fsm.RoutingArgs(d.Args)},
		Builtin:      d.Builtin,
	}
}

func binding(d fsm.BindingDef) Binding {
	return Binding{VHost: d.VHost, Exchange: d.Exchange, Queue: d.Queue, ToExchange: d.ToExchange, Key: d.Key, Args: fsm.RoutingArgs(d.Args)}
}

// logDestination is a binding's destination kind as the log holds it.
func logDestination(toExchange bool) fsmpb.DestinationKind {
	if toExchange {
		return fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	}
	return fsmpb.DestinationKind_DESTINATION_KIND_QUEUE
}
