package transport

import (
	"unicode/utf8"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/protobuf/proto"
)

// checkName validates an exchange, queue or consumer-tag name: UTF-8, at
// most MaxNameBytes; empty only where allowEmpty.
func (l Limits) checkName(what, name string, allowEmpty bool) error {
	if name == "" && !allowEmpty {
		return invalidf("%s name is empty", what)
	}
	if len(name) > l.MaxNameBytes {
		return invalidf("%s name is %d bytes long; the limit is %d", what, len(name), l.MaxNameBytes)
	}
	if !utf8.ValidString(name) {
		return invalidf("%s name is not valid UTF-8", what)
	}
	return nil
}

// checkRoutingKey validates a routing or binding key.
func (l Limits) checkRoutingKey(what, key string) error {
	if len(key) > l.MaxNameBytes {
		return invalidf("%s is %d bytes long; the limit is %d", what, len(key), l.MaxNameBytes)
	}
	if !utf8.ValidString(key) {
		return invalidf("%s is not valid UTF-8", what)
	}
	return nil
}

// checkValues validates headers or arguments: count, key names and sizes.
func (l Limits) checkValues(what string, m map[string]*pb.Value) error {
	if len(m) > l.MaxHeaders {
		return tooBigf("%d %s; the limit is %d", len(m), what, l.MaxHeaders)
	}
	for k, v := range m {
		if k == "" {
			return invalidf("%s have an empty key", what)
		}
		if len(k) > l.MaxNameBytes || !utf8.ValidString(k) {
			return invalidf("%s key %.40q is too long or not UTF-8", what, k)
		}
		switch x := v.GetKind().(type) {
		case *pb.Value_StringValue:
			if len(x.StringValue) > l.MaxHeaderValueBytes {
				return tooBigf("%s value of %q is %d bytes; the limit is %d", what, k, len(x.StringValue), l.MaxHeaderValueBytes)
			}
		case *pb.Value_BytesValue:
			if len(x.BytesValue) > l.MaxHeaderValueBytes {
				return tooBigf("%s value of %q is %d bytes; the limit is %d", what, k, len(x.BytesValue), l.MaxHeaderValueBytes)
			}
		case *pb.Value_ListValue, *pb.Value_TableValue:
			// A list or table counts as one value: its encoded size.
			if n := proto.Size(v); n > l.MaxHeaderValueBytes {
				return tooBigf("%s value of %q is %d bytes; the limit is %d", what, k, n, l.MaxHeaderValueBytes)
			}
		}
	}
	return nil
}

func checkSession(id string, required bool) error {
	if id == "" && required {
		return invalidf("session_id is required (open a Session stream first)")
	}
	if len(id) > maxSessionIDBytes || !utf8.ValidString(id) {
		return invalidf("session_id is too long (limit %d bytes) or not UTF-8", maxSessionIDBytes)
	}
	return nil
}

// checkArguments validates the arguments of a declaration or binding: as
// headers, and at most MaxArgumentsBytes in all, so that a declaration
// stays far below a Raft entry's limit.
func (l Limits) checkArguments(args map[string]*pb.Value) error {
	if err := l.checkValues("arguments", args); err != nil {
		return err
	}
	if n := argumentsSize(args); n > l.MaxArgumentsBytes {
		return tooBigf("arguments take %d bytes in all; the limit is %d", n, l.MaxArgumentsBytes)
	}
	return nil
}

// argumentsSize is the encoded size of args' keys and values.
func argumentsSize(args map[string]*pb.Value) int {
	n := 0
	for k, v := range args {
		n += len(k) + proto.Size(v)
	}
	return n
}

// checkMessage validates one message to publish.
func (l Limits) checkMessage(i int, e *pb.PublishEntry) error {
	if err := l.checkName("exchange", e.GetExchange(), true); err != nil {
		return err
	}
	if err := l.checkRoutingKey("routing key", e.GetRoutingKey()); err != nil {
		return err
	}
	m := e.GetMessage()
	if n := len(m.GetBody()); n > l.MaxMessageBytes {
		return tooBigf("message %d: body is %d bytes; the limit is %d", i, n, l.MaxMessageBytes)
	}
	if err := l.checkValues("headers", m.GetHeaders()); err != nil {
		return err
	}
	if err := checkProperties(l, i, m.GetProperties()); err != nil {
		return err
	}
	// Headers and properties are stored and delivered with the body, so
	// they count toward the message limit too.
	if n := proto.Size(m); n > l.MaxMessageBytes {
		return tooBigf("message %d is %d bytes with its headers and properties; the limit is %d", i, n, l.MaxMessageBytes)
	}
	return nil
}

// checkProperties bounds each string property like a header value: the
// body limit would mean little if a message id could take 60 MiB.
func checkProperties(l Limits, i int, p *pb.Properties) error {
	if p.GetExpirationMs() < 0 {
		return invalidf("message %d: expiration_ms is negative", i)
	}
	for _, f := range []struct{ name, v string }{
		{"content_type", p.GetContentType()}, {"content_encoding", p.GetContentEncoding()},
		{"message_id", p.GetMessageId()}, {"correlation_id", p.GetCorrelationId()}, {"reply_to", p.GetReplyTo()},
		{"type", p.GetType()}, {"app_id", p.GetAppId()}, {"user_id", p.GetUserId()},
	} {
		if len(f.v) > l.MaxHeaderValueBytes {
			return tooBigf("message %d: property %s is %d bytes; the limit is %d", i, f.name, len(f.v), l.MaxHeaderValueBytes)
		}
		if !utf8.ValidString(f.v) {
			return invalidf("message %d: property %s is not valid UTF-8", i, f.name)
		}
	}
	return nil
}
