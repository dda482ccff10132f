package transport

import (
	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/protobuf/proto"
)

// The gRPC API's messages and the broker's types.

func brokerValue(v *pb.Value) broker.Value {
	switch k := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return broker.Value{Type: broker.ValueString, Str: k.StringValue}
	case *pb.Value_IntValue:
		return broker.Value{Type: broker.ValueInt, Int: k.IntValue}
	case *pb.Value_BoolValue:
		return broker.Value{Type: broker.ValueBool, Bool: k.BoolValue}
	case *pb.Value_DoubleValue:
		return broker.Value{Type: broker.ValueFloat, Float: k.DoubleValue}
	case *pb.Value_BytesValue:
		return broker.Value{Type: broker.ValueBytes, Str: string(k.BytesValue)}
	case *pb.Value_ListValue:
		return broker.Value{Type: broker.ValueList, Str: string(nestedEncoding(k.ListValue))}
	case *pb.Value_TableValue:
		return broker.Value{Type: broker.ValueTable, Str: string(nestedEncoding(k.TableValue))}
	}
	return broker.Value{}
}

// nestedEncoding is a list's or table's deterministic encoding, as
// broker.Value holds it.
func nestedEncoding(m proto.Message) []byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return b
}

func apiValue(v broker.Value) *pb.Value {
	switch v.Type {
	case broker.ValueString:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v.Str}}
	case broker.ValueInt:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: v.Int}}
	case broker.ValueBool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: v.Bool}}
	case broker.ValueFloat:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: v.Float}}
	case broker.ValueBytes:
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	case broker.ValueList:
		l := &pb.ValueList{}
		if proto.Unmarshal([]byte(v.Str), l) == nil {
			return &pb.Value{Kind: &pb.Value_ListValue{ListValue: l}}
		}
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	case broker.ValueTable:
		t := &pb.ValueTable{}
		if proto.Unmarshal([]byte(v.Str), t) == nil {
			return &pb.Value{Kind: &pb.Value_TableValue{TableValue: t}}
		}
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	}
	return &pb.Value{}
}

func brokerValues(m map[string]*pb.Value) map[string]broker.Value { return convertMap(m, brokerValue) }

func apiValues(m map[string]broker.Value) map[string]*pb.Value { return convertMap(m, apiValue) }

// convertMap converts every value of m; nil (or empty) stays nil.
func convertMap[A, B any](m map[string]A, convert func(A) B) map[string]B {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]B, len(m))
	for k, v := range m {
		out[k] = convert(v)
	}
	return out
}

func brokerMessage(m *pb.Message) broker.Message {
	p := m.GetProperties()
	return broker.Message{
		Body:    m.GetBody(),
		Headers: brokerValues(m.GetHeaders()),
		Properties: broker.Properties{
			ContentType: p.GetContentType(), ContentEncoding: p.GetContentEncoding(), MessageID: p.GetMessageId(),
			CorrelationID: p.GetCorrelationId(), ReplyTo: p.GetReplyTo(), ExpirationMs: p.GetExpirationMs(),
			TimestampMs: p.GetTimestampMs(), Type: p.GetType(), AppID: p.GetAppId(), UserID: p.GetUserId(), Priority: p.GetPriority(),
		},
	}
}

func apiMessage(m broker.Message) *pb.Message {
	p := &m.Properties
	return &pb.Message{
		Body:    m.Body,
		Headers: apiValues(m.Headers),
		Properties: &pb.Properties{
			ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, MessageId: p.MessageID,
			CorrelationId: p.CorrelationID, ReplyTo: p.ReplyTo, ExpirationMs: p.ExpirationMs,
			TimestampMs: p.TimestampMs, Type: p.Type, AppId: p.AppID, UserId: p.UserID, Priority: p.Priority,
		},
	}
}

func apiDelivery(d broker.Delivery) *pb.Delivery {
	return &pb.Delivery{
		DeliveryTag: d.Tag, Redelivered: d.Redelivered, DeliveryCount: d.DeliveryCount,
		Exchange: d.Exchange, RoutingKey: d.RoutingKey, Message: apiMessage(d.Message),
		Queue: d.Queue, ConsumerTag: d.ConsumerTag,
	}
}
