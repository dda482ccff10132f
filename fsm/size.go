package fsm

import (
	"fmt"
	"math"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// MessageSize is the size of a message as a queue counts it, in bytes:
// the body, plus each header's key and value, plus the string properties
// (content type and encoding, message and correlation id, reply-to, type,
// app and user id). A header value counts its length when it is a string
// or bytes, its width when it is a number (int and double 8, bool 1), and
// nothing when it has none (its key still counts). The exchange and routing key a
// message was published with, and its numeric properties, do not count:
// they are bounded names and fixed-width numbers.
//
// It is what max_length_bytes limits and what a queue reports as ready
// bytes, for every message enqueued under SIZE_RULE_WITH_HEADERS (see
// sizeOf), so that headers cannot carry megabytes past a small
// max-length-bytes beside a one-byte body.
//
// It is never more than the protobuf-encoded size of the message's body,
// headers and properties, which is what the API edge holds to
// --max-message-bytes (its Message has the fields of Payload 1–3): a
// message the edge accepts under a limit of N counts at most N here. It is
// not that encoded size itself because the log's meaning must not follow
// an encoding (field numbers, tag and length overhead, unknown fields) but
// a definition that every build computes alike. Pure; it sums over the
// headers, so map order cannot reach the result.
func MessageSize(p *fsmpb.Payload) uint64 {
	n := bodyLen(p)
	for k, v := range p.GetHeaders() {
		n += uint64(len(k)) + headerValueSize(v)
	}
	pr := p.GetProperties()
	for _, s := range [...]string{
		pr.GetContentType(), pr.GetContentEncoding(), pr.GetMessageId(), pr.GetCorrelationId(),
		pr.GetReplyTo(), pr.GetType(), pr.GetAppId(), pr.GetUserId(),
	} {
		n += uint64(len(s))
	}
	return n
}

// headerValueSize is what one header value adds to MessageSize.
func headerValueSize(v *fsmpb.Value) uint64 {
	switch x := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		return uint64(len(x.StringValue))
	case *fsmpb.Value_BytesValue:
		return uint64(len(x.BytesValue))
	case *fsmpb.Value_ListValue:
		return uint64(proto.Size(x.ListValue))
	case *fsmpb.Value_TableValue:
		return uint64(proto.Size(x.TableValue))
	case *fsmpb.Value_IntValue, *fsmpb.Value_DoubleValue:
		return 8
	case *fsmpb.Value_BoolValue:
		return 1
	}
	return 0
}

// sizeOf is the size a message enqueued under rule counts, saturated to
// the uint32 a queue stores: the body alone under SIZE_RULE_BODY (the
// meaning of every Enqueue written before the rule existed, which a log
// replayed by this build must keep), MessageSize under
// SIZE_RULE_WITH_HEADERS. rule must be known (checkSizeRule).
//
// The size is computed once, when the message is enqueued, and stored
// with it (and in snapshots): a message keeps the size of the rule it came
// under for as long as it stays, wherever it moves (returns, gets,
// deliveries), so replicas that restored a snapshot and replicas that
// replayed the log count the same ready bytes.
func sizeOf(rule fsmpb.SizeRule, p *fsmpb.Payload) uint32 {
	n := bodyLen(p)
	if rule == fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS {
		n = MessageSize(p)
	}
	return uint32(min(n, math.MaxUint32))
}

// checkSizeRule refuses a size rule this build does not know: applying it
// under another rule would make this replica's queues differ from those of
// the builds that know it. The error wraps ErrInvalid.
func checkSizeRule(rule fsmpb.SizeRule) error {
	switch rule {
	case fsmpb.SizeRule_SIZE_RULE_BODY, fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS:
		return nil
	}
	return fmt.Errorf("%w: enqueue: size rule %d is unknown to this build", ErrInvalid, rule)
}
