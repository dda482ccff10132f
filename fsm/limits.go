package fsm

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// The limits the log enforces. Every command is checked against them when
// it is applied, whatever path it took to the log, so that a command which
// never passed the API edge (a forwarded raw command, a replayed log) cannot
// create what the edge would refuse. They are constants, not settings:
// every replica must decide alike, so a limit is part of the machine's
// definition, and changing one is a change of the log's meaning (a command
// that an older build applied and a newer one refuses replays differently,
// and replicas of both builds would disagree on it).
//
// They equal the API edge's defaults (transport.DefaultLimits), so a
// request the edge accepts is accepted here, with two exceptions: the edge
// bounds each argument value but not their sum, while the log also bounds
// one declaration's or binding's arguments in all (MaxArgsBytes); and a
// queue's dead-letter exchange and routing key arguments, any string value
// at the edge, must be names here (at most MaxNameBytes of UTF-8).
//
// Message bodies have no limit here: the edge's body limit is a node's
// setting, and the Raft entry size (raftgroup.MaxEntrySize) bounds what one
// command can carry. How a message is measured against a queue's
// max-length-bytes (MessageSize, size.go) is part of the definition too,
// and changing it changes what a log means; so the measure is named by
// each Enqueue (size_rule), an old entry keeps its old measure, and a new
// one is proposed only once every server of the group knows it.
const (
	// MaxNameBytes bounds exchange and queue names, consumer tags, routing
	// and binding keys, dead-letter exchanges and routing keys, and the keys
	// of arguments and headers: AMQP's short string.
	MaxNameBytes = 255
	// MaxSessionIDBytes bounds session ids and producer (publisher) ids.
	MaxSessionIDBytes = 128
	// MaxArgs bounds the entries of one declaration's or binding's
	// arguments, and of one message's headers.
	MaxArgs = 128
	// MaxArgValueBytes bounds one string or bytes argument or header value.
	MaxArgValueBytes = 64 << 10
	// MaxArgsBytes bounds the arguments of one declaration or binding in
	// all: the sum of the lengths of their string and bytes values, so one
	// value may take it all. Keys are bounded apart, by MaxArgs and
	// MaxNameBytes. (Headers have no such sum; the entry size bounds them.)
	MaxArgsBytes = 64 << 10
	// MaxPropertyBytes bounds each string property of a message.
	MaxPropertyBytes = 64 << 10
	// MaxPrefetch bounds a consumer's prefetch (AMQP's is 16 bits); 0 means
	// unlimited.
	MaxPrefetch = 65535
	// MaxSessionsPerCommand bounds the session ids of one MetaSessionDown or
	// SessionDown. It is a backstop for commands built in Go: the Raft entry
	// size already keeps a proposed command below it.
	MaxSessionsPerCommand = 100_000
)

// ValidName checks a name that must be given: an exchange or queue name, a
// consumer tag. It must be non-empty, at most MaxNameBytes bytes, and valid
// UTF-8. what names the field in the error, which wraps ErrInvalid. Pure.
func ValidName(what, name string) error {
	return validText(what, name, MaxNameBytes, false)
}

// ValidKey checks a name that may be empty: a routing or binding key, the
// default exchange "", a dead-letter exchange, the consumer tag "" of a
// session's gets. At most MaxNameBytes bytes of valid UTF-8. Pure.
func ValidKey(what, key string) error {
	return validText(what, key, MaxNameBytes, true)
}

// ValidSessionID checks a session id: non-empty, at most MaxSessionIDBytes
// bytes of valid UTF-8. Pure.
func ValidSessionID(id string) error {
	return validText("session id", id, MaxSessionIDBytes, false)
}

// ValidPrefetch checks a consumer's prefetch: 0 (unlimited) to MaxPrefetch.
func ValidPrefetch(n uint32) error {
	if n > MaxPrefetch {
		return fmt.Errorf("%w: prefetch is %d; the limit is %d", ErrInvalid, n, MaxPrefetch)
	}
	return nil
}

// ValidArgs checks the arguments of a declaration or binding: at most
// MaxArgs entries; keys non-empty, at most MaxNameBytes bytes of valid
// UTF-8; string values valid UTF-8; string and bytes values at most
// MaxArgValueBytes each, and at most MaxArgsBytes in all.
// Which arguments mean something, and of which type, is the business of
// QueueSpecFromArgs and of the routing tables. The error names the first
// bad key in sorted order, so it is the same on every replica. Pure.
func ValidArgs(what string, args map[string]*fsmpb.Value) error {
	if err := validValues(what, args); err != nil {
		return err
	}
	total := 0
	for _, v := range args {
		total += valueBytes(v)
	}
	if total > MaxArgsBytes {
		return fmt.Errorf("%w: %s hold %d bytes of string and bytes values in all; the limit is %d", ErrInvalid, what, total, MaxArgsBytes)
	}
	return nil
}

// ValidPayload checks what a message carries besides its body: the
// exchange and routing key it was published with (ValidKey), its headers
// (as ValidArgs, without the sum), and its properties (string properties
// at most MaxPropertyBytes bytes of valid UTF-8, expiration_ms not
// negative). The body is not checked: its limit is a node's setting. Pure.
func ValidPayload(p *fsmpb.Payload) error {
	if p == nil {
		return fmt.Errorf("%w: no payload", ErrInvalid)
	}
	if err := ValidKey("exchange name", p.GetExchange()); err != nil {
		return err
	}
	if err := ValidKey("routing key", p.GetRoutingKey()); err != nil {
		return err
	}
	if err := validValues("headers", p.GetHeaders()); err != nil {
		return err
	}
	pr := p.GetProperties()
	if pr.GetExpirationMs() < 0 {
		return fmt.Errorf("%w: property expiration_ms is negative (%d)", ErrInvalid, pr.GetExpirationMs())
	}
	for _, f := range [...]struct{ name, v string }{
		{"content_type", pr.GetContentType()}, {"content_encoding", pr.GetContentEncoding()},
		{"message_id", pr.GetMessageId()}, {"correlation_id", pr.GetCorrelationId()},
		{"reply_to", pr.GetReplyTo()}, {"type", pr.GetType()}, {"app_id", pr.GetAppId()},
		{"user_id", pr.GetUserId()},
	} {
		if p := textProblem(f.v, MaxPropertyBytes, true); p != "" {
			return fmt.Errorf("%w: property %s %s", ErrInvalid, f.name, p)
		}
	}
	return nil
}

// ValidQueueSpec checks a queue spec carried by a queue command: present,
// id not 0, and a queue name (ValidName). Its other fields need no check
// here: the machine gives every number a meaning (a negative limit is 0),
// and the dead-letter exchange and routing key were checked when the meta
// group declared the queue (a spec from before that check keeps working).
// Pure.
func ValidQueueSpec(spec *fsmpb.QueueSpec) error {
	if spec == nil {
		return fmt.Errorf("%w: missing queue spec", ErrInvalid)
	}
	if spec.GetId() == 0 {
		return fmt.Errorf("%w: queue spec %.40q has id 0", ErrInvalid, spec.GetName())
	}
	if err := ValidName("queue name", spec.GetName()); err != nil {
		return err
	}
	// Every string of a spec is stored in the snapshot, which protobuf
	// refuses to write with invalid UTF-8: a spec that passed here must
	// never make a snapshot fail. Their lengths are the meta group's to
	// check, at the declaration.
	for _, f := range []struct{ what, s string }{
		{"dead-letter exchange", spec.GetDeadLetterExchange()},
		{"dead-letter routing key", spec.GetDeadLetterRoutingKey()},
	} {
		if !utf8.ValidString(f.s) {
			return fmt.Errorf("%w: queue spec %.40q: %s is not valid UTF-8", ErrInvalid, spec.GetName(), f.what)
		}
	}
	return nil
}

// validText checks s against the limit max (in bytes) and for UTF-8, and,
// unless allowEmpty, that it is not empty. The error says what is wrong
// with the field what, and wraps ErrInvalid.
func validText(what, s string, max int, allowEmpty bool) error {
	if p := textProblem(s, max, allowEmpty); p != "" {
		return fmt.Errorf("%w: %s %s", ErrInvalid, what, p)
	}
	return nil
}

// textProblem is validText's verdict without the error: "" when s is fine,
// otherwise what is wrong with it ("is empty", …). Callers in loops over
// many fields use it so that a field's name is only formatted on failure.
func textProblem(s string, max int, allowEmpty bool) string {
	switch {
	case s == "" && !allowEmpty:
		return "is empty"
	case len(s) > max:
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), max)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return ""
}

// validValues checks an argument or header map: at most MaxArgs entries,
// keys and values as ValidArgs says. It looks at the entries in map order
// and, only when one is bad, again in key order, to name the first bad one.
func validValues(what string, m map[string]*fsmpb.Value) error {
	if len(m) > MaxArgs {
		return fmt.Errorf("%w: %s have %d entries; the limit is %d", ErrInvalid, what, len(m), MaxArgs)
	}
	bad := false
	for k, v := range m {
		if valueProblem(k, v) != "" {
			bad = true
			break
		}
	}
	if !bad {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if p := valueProblem(k, m[k]); p != "" {
			return fmt.Errorf("%w: %s %s", ErrInvalid, what, p)
		}
	}
	return nil // unreachable: the first pass found a bad entry
}

// valueProblem is "" for a good argument or header entry, otherwise what is
// wrong with it.
func valueProblem(k string, v *fsmpb.Value) string {
	if p := textProblem(k, MaxNameBytes, false); p != "" {
		return fmt.Sprintf("key %.40q %s", k, p)
	}
	switch x := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		if p := textProblem(x.StringValue, MaxArgValueBytes, true); p != "" {
			return fmt.Sprintf("value of %q %s", k, p)
		}
	case *fsmpb.Value_BytesValue:
		if n := len(x.BytesValue); n > MaxArgValueBytes {
			return fmt.Sprintf("value of %q is %d bytes long; the limit is %d", k, n, MaxArgValueBytes)
		}
	case *fsmpb.Value_ListValue, *fsmpb.Value_TableValue:
		if n := valueBytes(v); n > MaxArgValueBytes {
			return fmt.Sprintf("value of %q is %d bytes long; the limit is %d", k, n, MaxArgValueBytes)
		}
	}
	return ""
}

// valueBytes is what a value counts against MaxArgsBytes: the length of a
// string or bytes value, 0 for the others.
func valueBytes(v *fsmpb.Value) int {
	switch x := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		return len(x.StringValue)
	case *fsmpb.Value_BytesValue:
		return len(x.BytesValue)
	case *fsmpb.Value_ListValue:
		return proto.Size(x.ListValue)
	case *fsmpb.Value_TableValue:
		return proto.Size(x.TableValue)
	}
	return 0
}
