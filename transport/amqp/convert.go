package amqp

import (
	"math"
	"strconv"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/protobuf/proto"
)

// The mapping between AMQP's basic properties and field tables and the
// broker's message (README "AMQP 0-9-1", DESIGN.md): one to one where the
// broker keeps the property; see DESIGN.md for delivery-mode and
// cluster-id.

// brokerMessage converts a published content to the broker's message.
// user is the connection's user, which user-id must name (RabbitMQ's
// validated user-id) when access is on.
func brokerMessage(p *wire.Properties, body []byte, user string, checkUser bool) (broker.Message, error) {
	m := broker.Message{Body: body, Headers: brokerTable(p.Headers)}
	if p.HasExpiration() {
		ms, err := strconv.ParseInt(p.Expiration, 10, 64)
		if err != nil || ms < 0 {
			return m, wire.Errorf(wire.PreconditionFailed, "invalid expiration '%s' (a number of milliseconds)", p.Expiration)
		}
		if ms == 0 {
			ms = 1 // "0" expires at once; the broker's 0 means none
		}
		m.Properties.ExpirationMs = ms
	}
	if checkUser && p.UserID != "" && p.UserID != user {
		return m, wire.Errorf(wire.PreconditionFailed, "user_id property set to '%s' but authenticated user was '%s'", p.UserID, user)
	}
	if p.DeliveryMode > 2 {
		return m, wire.Errorf(wire.PreconditionFailed, "invalid delivery_mode %d (1 or 2)", p.DeliveryMode)
	}
	m.Properties.ContentType = p.ContentType
	m.Properties.ContentEncoding = p.ContentEncoding
	m.Properties.CorrelationID = p.CorrelationID
	m.Properties.ReplyTo = p.ReplyTo
	m.Properties.MessageID = p.MessageID
	if p.Timestamp != 0 && p.Timestamp <= math.MaxInt64/1000 {
		m.Properties.TimestampMs = int64(p.Timestamp) * 1000
	}
	m.Properties.Type = p.Type
	m.Properties.UserID = p.UserID
	m.Properties.AppID = p.AppID
	m.Properties.Priority = uint32(p.Priority)
	return m, nil
}

// amqpProperties converts a broker message's properties back. Every
// message Warren holds is on disk in a quorum, so delivery-mode is 2
// (persistent).
func amqpProperties(m *broker.Message) *wire.Properties {
	p := &m.Properties
	out := &wire.Properties{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, Headers: amqpTable(m.Headers), DeliveryMode: 2,
		CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo, MessageID: p.MessageID,
		Timestamp: uint64(max(p.TimestampMs, 0) / 1000), Type: p.Type, UserID: p.UserID, AppID: p.AppID,
	}
	if p.Priority <= math.MaxUint8 {
		out.Priority = uint8(p.Priority)
	}
	if p.ExpirationMs > 0 {
		out.Expiration = strconv.FormatInt(p.ExpirationMs, 10)
	}
	return out
}

// brokerTable converts a field table (headers or arguments).
func brokerTable(t wire.Table) map[string]broker.Value {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]broker.Value, len(t))
	for k, v := range t {
		out[k] = brokerValue(v)
	}
	return out
}

// brokerValue converts one field value: integers of every width to Int,
// both floats and decimals to Float, long strings to String, byte arrays
// to Bytes, timestamps to Int (seconds), arrays and tables to the
// broker's List and Table, void to None.
func brokerValue(v any) broker.Value {
	switch x := v.(type) {
	case bool:
		return broker.Value{Type: broker.ValueBool, Bool: x}
	case int8:
		return intValue(int64(x))
	case uint8:
		return intValue(int64(x))
	case int16:
		return intValue(int64(x))
	case uint16:
		return intValue(int64(x))
	case int32:
		return intValue(int64(x))
	case uint32:
		return intValue(int64(x))
	case int64:
		return intValue(x)
	case float32:
		return broker.Value{Type: broker.ValueFloat, Float: float64(x)}
	case float64:
		return broker.Value{Type: broker.ValueFloat, Float: x}
	case wire.Decimal:
		return broker.Value{Type: broker.ValueFloat, Float: float64(x.Value) / math.Pow10(int(x.Scale))}
	case string:
		return broker.Value{Type: broker.ValueString, Str: x}
	case []byte:
		return broker.Value{Type: broker.ValueBytes, Str: string(x)}
	case wire.Timestamp:
		return intValue(int64(x))
	case []any:
		l := &pb.ValueList{}
		for _, e := range x {
			l.Values = append(l.Values, apiValue(brokerValue(e)))
		}
		return broker.Value{Type: broker.ValueList, Str: nested(l)}
	case wire.Table:
		t := &pb.ValueTable{Fields: map[string]*pb.Value{}}
		for k, e := range x {
			t.Fields[k] = apiValue(brokerValue(e))
		}
		return broker.Value{Type: broker.ValueTable, Str: nested(t)}
	}
	return broker.Value{Type: broker.ValueNone}
}

func intValue(n int64) broker.Value { return broker.Value{Type: broker.ValueInt, Int: n} }

func nested(m proto.Message) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return string(b)
}

// apiValue is the gRPC API's form of a broker value, in which the broker
// holds nested lists and tables.
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
	case broker.ValueTable:
		t := &pb.ValueTable{}
		if proto.Unmarshal([]byte(v.Str), t) == nil {
			return &pb.Value{Kind: &pb.Value_TableValue{TableValue: t}}
		}
	}
	return &pb.Value{}
}

// amqpTable converts broker values back to a field table: Int as a long
// long ('l'), Float as a double ('d'), String as a long string ('S'),
// Bytes as a byte array ('x'), lists and tables nested, None as void.
func amqpTable(m map[string]broker.Value) wire.Table {
	if len(m) == 0 {
		return nil
	}
	t := make(wire.Table, len(m))
	for k, v := range m {
		t[k] = amqpValue(v)
	}
	return t
}

func amqpValue(v broker.Value) any {
	switch v.Type {
	case broker.ValueString:
		return v.Str
	case broker.ValueInt:
		return v.Int
	case broker.ValueBool:
		return v.Bool
	case broker.ValueFloat:
		return v.Float
	case broker.ValueBytes:
		return []byte(v.Str)
	case broker.ValueList, broker.ValueTable:
		return amqpAPIValue(apiValue(v))
	}
	return nil
}

func amqpAPIValue(v *pb.Value) any {
	switch k := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return k.StringValue
	case *pb.Value_IntValue:
		return k.IntValue
	case *pb.Value_BoolValue:
		return k.BoolValue
	case *pb.Value_DoubleValue:
		return k.DoubleValue
	case *pb.Value_BytesValue:
		return k.BytesValue
	case *pb.Value_ListValue:
		out := make([]any, 0, len(k.ListValue.GetValues()))
		for _, e := range k.ListValue.GetValues() {
			out = append(out, amqpAPIValue(e))
		}
		return out
	case *pb.Value_TableValue:
		out := wire.Table{}
		for key, e := range k.TableValue.GetFields() {
			out[key] = amqpAPIValue(e)
		}
		return out
	}
	return nil
}

// brokerDelivery converts a delivery a leader streamed to this node.
func brokerDelivery(d *pb.Delivery) broker.Delivery {
	m := d.GetMessage()
	p := m.GetProperties()
	headers := map[string]broker.Value(nil)
	if len(m.GetHeaders()) > 0 {
		headers = make(map[string]broker.Value, len(m.GetHeaders()))
		for k, v := range m.GetHeaders() {
			headers[k] = brokerAPIValue(v)
		}
	}
	return broker.Delivery{
		Tag: d.GetDeliveryTag(), Queue: d.GetQueue(), ConsumerTag: d.GetConsumerTag(), DeliveryCount: d.GetDeliveryCount(),
		Redelivered: d.GetRedelivered(), Exchange: d.GetExchange(), RoutingKey: d.GetRoutingKey(),
		Message: broker.Message{Body: m.GetBody(), Headers: headers, Properties: broker.Properties{
			ContentType: p.GetContentType(), ContentEncoding: p.GetContentEncoding(), MessageID: p.GetMessageId(),
			CorrelationID: p.GetCorrelationId(), ReplyTo: p.GetReplyTo(), ExpirationMs: p.GetExpirationMs(),
			TimestampMs: p.GetTimestampMs(), Type: p.GetType(), AppID: p.GetAppId(), UserID: p.GetUserId(), Priority: p.GetPriority(),
		}},
	}
}

func brokerAPIValue(v *pb.Value) broker.Value {
	switch k := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return broker.Value{Type: broker.ValueString, Str: k.StringValue}
	case *pb.Value_IntValue:
		return intValue(k.IntValue)
	case *pb.Value_BoolValue:
		return broker.Value{Type: broker.ValueBool, Bool: k.BoolValue}
	case *pb.Value_DoubleValue:
		return broker.Value{Type: broker.ValueFloat, Float: k.DoubleValue}
	case *pb.Value_BytesValue:
		return broker.Value{Type: broker.ValueBytes, Str: string(k.BytesValue)}
	case *pb.Value_ListValue:
		return broker.Value{Type: broker.ValueList, Str: nested(k.ListValue)}
	case *pb.Value_TableValue:
		return broker.Value{Type: broker.ValueTable, Str: nested(k.TableValue)}
	}
	return broker.Value{Type: broker.ValueNone}
}
