package transport

import (
	"github.com/warrenmq/warren/fsm/fsmpb"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// The API and the log format have twin Value and Properties messages but
// never share types: the log format must not change when the API does.

func toFSMValue(v *pb.Value) *fsmpb.Value {
	switch k := v.GetKind().(type) {
	case *pb.Value_StringValue:
		return &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: k.StringValue}}
	case *pb.Value_IntValue:
		return &fsmpb.Value{Kind: &fsmpb.Value_IntValue{IntValue: k.IntValue}}
	case *pb.Value_BoolValue:
		return &fsmpb.Value{Kind: &fsmpb.Value_BoolValue{BoolValue: k.BoolValue}}
	case *pb.Value_DoubleValue:
		return &fsmpb.Value{Kind: &fsmpb.Value_DoubleValue{DoubleValue: k.DoubleValue}}
	case *pb.Value_BytesValue:
		return &fsmpb.Value{Kind: &fsmpb.Value_BytesValue{BytesValue: k.BytesValue}}
	}
	return &fsmpb.Value{}
}

func fromFSMValue(v *fsmpb.Value) *pb.Value {
	switch k := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: k.StringValue}}
	case *fsmpb.Value_IntValue:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: k.IntValue}}
	case *fsmpb.Value_BoolValue:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: k.BoolValue}}
	case *fsmpb.Value_DoubleValue:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: k.DoubleValue}}
	case *fsmpb.Value_BytesValue:
		return &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: k.BytesValue}}
	}
	return &pb.Value{}
}

func toFSMValues(m map[string]*pb.Value) map[string]*fsmpb.Value {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*fsmpb.Value, len(m))
	for k, v := range m {
		out[k] = toFSMValue(v)
	}
	return out
}

func fromFSMValues(m map[string]*fsmpb.Value) map[string]*pb.Value {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*pb.Value, len(m))
	for k, v := range m {
		out[k] = fromFSMValue(v)
	}
	return out
}

func toPayload(e *pb.PublishEntry) *fsmpb.Payload {
	m := e.GetMessage()
	p := m.GetProperties()
	return &fsmpb.Payload{
		Body:    m.GetBody(),
		Headers: toFSMValues(m.GetHeaders()),
		Properties: &fsmpb.Properties{
			ContentType: p.GetContentType(), ContentEncoding: p.GetContentEncoding(), MessageId: p.GetMessageId(),
			CorrelationId: p.GetCorrelationId(), ReplyTo: p.GetReplyTo(), ExpirationMs: p.GetExpirationMs(),
			TimestampMs: p.GetTimestampMs(), Type: p.GetType(), AppId: p.GetAppId(), UserId: p.GetUserId(), Priority: p.GetPriority(),
		},
		Exchange:   e.GetExchange(),
		RoutingKey: e.GetRoutingKey(),
	}
}

func fromPayload(p *fsmpb.Payload) *pb.Message {
	pr := p.GetProperties()
	return &pb.Message{
		Body:    p.GetBody(),
		Headers: fromFSMValues(p.GetHeaders()),
		Properties: &pb.Properties{
			ContentType: pr.GetContentType(), ContentEncoding: pr.GetContentEncoding(), MessageId: pr.GetMessageId(),
			CorrelationId: pr.GetCorrelationId(), ReplyTo: pr.GetReplyTo(), ExpirationMs: pr.GetExpirationMs(),
			TimestampMs: pr.GetTimestampMs(), Type: pr.GetType(), AppId: pr.GetAppId(), UserId: pr.GetUserId(), Priority: pr.GetPriority(),
		},
	}
}
