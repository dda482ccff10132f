package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// limitCase is one call of an exported check: ok, or refused with an error
// wrapping ErrInvalid whose text holds every string of want (the field
// and, for a size, the limit).
type limitCase struct {
	name string
	err  error
	want []string // nil: the check must pass
}

func runLimitCases(t *testing.T, cases []limitCase) {
	t.Helper()
	for _, c := range cases {
		switch {
		case c.want == nil && c.err != nil:
			t.Errorf("%s: refused: %v", c.name, c.err)
		case c.want != nil && !errors.Is(c.err, ErrInvalid):
			t.Errorf("%s: %v, want an error wrapping ErrInvalid", c.name, c.err)
		case c.want != nil:
			for _, w := range c.want {
				if !strings.Contains(c.err.Error(), w) {
					t.Errorf("%s: error %q does not say %q", c.name, c.err, w)
				}
			}
		}
	}
}

func repeat(n int) string { return strings.Repeat("x", n) }

func TestValidNamesAndIDs(t *testing.T) {
	runLimitCases(t, []limitCase{
		{"name of 255 bytes", ValidName("queue name", repeat(255)), nil},
		{"name of 256 bytes", ValidName("queue name", repeat(256)), []string{"queue name", "256", "255"}},
		{"name of 204,800 bytes", ValidName("queue name", repeat(204800)), []string{"queue name", "204800", "255"}},
		{"empty name", ValidName("exchange name", ""), []string{"exchange name", "empty"}},
		{"invalid UTF-8 name", ValidName("queue name", "a\xffb"), []string{"queue name", "UTF-8"}},
		{"multi-byte name of 255 bytes", ValidName("queue name", strings.Repeat("é", 127)+"x"), nil},
		{"empty key", ValidKey("routing key", ""), nil},
		{"key of 256 bytes", ValidKey("routing key", repeat(256)), []string{"routing key", "255"}},
		{"invalid UTF-8 key", ValidKey("binding key", "\xc3"), []string{"binding key", "UTF-8"}},
		{"session id of 128 bytes", ValidSessionID(repeat(128)), nil},
		{"session id of 129 bytes", ValidSessionID(repeat(129)), []string{"session id", "129", "128"}},
		{"empty session id", ValidSessionID(""), []string{"session id", "empty"}},
		{"invalid UTF-8 session id", ValidSessionID("s\xff"), []string{"session id", "UTF-8"}},
		{"prefetch 0", ValidPrefetch(0), nil},
		{"prefetch 65535", ValidPrefetch(65535), nil},
		{"prefetch 65536", ValidPrefetch(65536), []string{"prefetch", "65536", "65535"}},
	})
}

func TestValidArgs(t *testing.T) {
	many := func(n int) map[string]*fsmpb.Value {
		m := map[string]*fsmpb.Value{}
		for i := range n {
			m[fmt.Sprintf("k%03d", i)] = num(int64(i))
		}
		return m
	}
	bytesVal := func(n int) *fsmpb.Value {
		return &fsmpb.Value{Kind: &fsmpb.Value_BytesValue{BytesValue: bytes.Repeat([]byte("b"), n)}}
	}
	runLimitCases(t, []limitCase{
		{"none", ValidArgs("arguments", nil), nil},
		{"128 entries", ValidArgs("arguments", many(128)), nil},
		{"129 entries", ValidArgs("arguments", many(129)), []string{"arguments", "129", "128"}},
		{"kind-less value", ValidArgs("arguments", map[string]*fsmpb.Value{"a": {}, "b": nil}), nil},
		{"empty key", ValidArgs("arguments", map[string]*fsmpb.Value{"": num(1)}), []string{"arguments", "empty"}},
		{"key of 256 bytes", ValidArgs("arguments", map[string]*fsmpb.Value{repeat(256): num(1)}), []string{"arguments key", "255"}},
		{"invalid UTF-8 key", ValidArgs("arguments", map[string]*fsmpb.Value{"k\xff": num(1)}), []string{"arguments key", "UTF-8"}},
		{"string of 64 KiB", ValidArgs("arguments", map[string]*fsmpb.Value{"s": str(repeat(64 << 10))}), nil},
		{"string of 64 KiB + 1", ValidArgs("arguments", map[string]*fsmpb.Value{"s": str(repeat(64<<10 + 1))}), []string{`value of "s"`, "65537", "65536"}},
		{"invalid UTF-8 string", ValidArgs("arguments", map[string]*fsmpb.Value{"s": str("\xff")}), []string{`value of "s"`, "UTF-8"}},
		{"bytes of 64 KiB + 1", ValidArgs("arguments", map[string]*fsmpb.Value{"b": bytesVal(64<<10 + 1)}), []string{`value of "b"`, "65537"}},
		{"invalid UTF-8 bytes", ValidArgs("arguments", map[string]*fsmpb.Value{"b": {Kind: &fsmpb.Value_BytesValue{BytesValue: []byte{0xff}}}}), nil},
		{"60 KiB in all", ValidArgs("arguments", map[string]*fsmpb.Value{"a": str(repeat(30 << 10)), "b": bytesVal(30 << 10)}), nil},
		{"80 KiB in all", ValidArgs("arguments", map[string]*fsmpb.Value{"a": str(repeat(40 << 10)), "b": bytesVal(40 << 10)}), []string{"arguments", "in all", "65536"}},
	})
	// Several bad entries: the error names the first in key order, every
	// time, so replicas agree on it.
	bad := map[string]*fsmpb.Value{}
	for i := range 20 {
		bad[fmt.Sprintf("k%02d", i)] = str(repeat(MaxArgValueBytes + 1))
	}
	for range 20 {
		if err := ValidArgs("arguments", bad); err == nil || !strings.Contains(err.Error(), `"k00"`) {
			t.Fatalf("error %v does not name the first bad key k00", err)
		}
	}
}

func TestValidPayloadAndSpec(t *testing.T) {
	payload := func(f func(*fsmpb.Payload)) *fsmpb.Payload {
		p := &fsmpb.Payload{Body: bytes.Repeat([]byte("b"), 8<<20), Exchange: "ex", RoutingKey: "rk",
			Headers: map[string]*fsmpb.Value{"h": str("v")}, Properties: &fsmpb.Properties{ContentType: "text/plain", ExpirationMs: 5}}
		f(p)
		return p
	}
	headers := map[string]*fsmpb.Value{}
	for i := range MaxArgs + 1 {
		headers[fmt.Sprintf("h%d", i)] = num(1)
	}
	spec := func(f func(*fsmpb.QueueSpec)) *fsmpb.QueueSpec {
		s := qspec(7, "jobs", withDLX("dlx", "dead"))
		f(s)
		return s
	}
	runLimitCases(t, []limitCase{
		{"payload with an 8 MiB body", ValidPayload(payload(func(*fsmpb.Payload) {})), nil},
		{"no payload", ValidPayload(nil), []string{"payload"}},
		{"exchange of 256 bytes", ValidPayload(payload(func(p *fsmpb.Payload) { p.Exchange = repeat(256) })), []string{"exchange name", "255"}},
		{"invalid UTF-8 routing key", ValidPayload(payload(func(p *fsmpb.Payload) { p.RoutingKey = "\xff" })), []string{"routing key", "UTF-8"}},
		{"129 headers", ValidPayload(payload(func(p *fsmpb.Payload) { p.Headers = headers })), []string{"headers", "129", "128"}},
		{"two headers of 40 KiB", ValidPayload(payload(func(p *fsmpb.Payload) {
			p.Headers = map[string]*fsmpb.Value{"a": str(repeat(40 << 10)), "b": str(repeat(40 << 10))}
		})), nil},
		{"content type of 64 KiB + 1", ValidPayload(payload(func(p *fsmpb.Payload) { p.Properties.ContentType = repeat(64<<10 + 1) })), []string{"content_type", "65536"}},
		{"invalid UTF-8 message id", ValidPayload(payload(func(p *fsmpb.Payload) { p.Properties.MessageId = "\xff" })), []string{"message_id", "UTF-8"}},
		{"negative expiration", ValidPayload(payload(func(p *fsmpb.Payload) { p.Properties.ExpirationMs = -1 })), []string{"expiration_ms"}},
		{"no properties", ValidPayload(payload(func(p *fsmpb.Payload) { p.Properties = nil })), nil},
		{"spec", ValidQueueSpec(spec(func(*fsmpb.QueueSpec) {})), nil},
		{"negative max-length", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { withMaxLen(-1)(s) })), nil},
		{"no spec", ValidQueueSpec(nil), []string{"missing queue spec"}},
		{"spec id 0", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.Id = 0 })), []string{"id 0"}},
		{"spec without a name", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.Name = "" })), []string{"queue name", "empty"}},
		{"spec name of 204,800 bytes", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.Name = repeat(204800) })), []string{"queue name", "255"}},
		{"invalid UTF-8 spec name", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.Name = "q\xff" })), []string{"queue name", "UTF-8"}},
		// Checked by the meta group at the declaration, not here.
		{"dead-letter exchange of 256 bytes", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.DeadLetterExchange = repeat(256) })), nil},
		// But no string a snapshot could not hold (found by FuzzQueueApply).
		{"invalid UTF-8 dead-letter exchange", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.DeadLetterExchange = "00\x800" })), []string{"dead-letter exchange", "UTF-8"}},
		{"invalid UTF-8 dead-letter routing key", ValidQueueSpec(spec(func(s *fsmpb.QueueSpec) { s.DeadLetterRoutingKey = "\xff" })), []string{"dead-letter routing key", "UTF-8"}},
	})
}

// BenchmarkValidPayload measures what the limits add to each enqueued
// message: a typical payload with eight headers and a few properties.
func BenchmarkValidPayload(b *testing.B) {
	p := &fsmpb.Payload{Body: make([]byte, 1024), Exchange: "orders", RoutingKey: "eu.orders.created",
		Headers:    map[string]*fsmpb.Value{},
		Properties: &fsmpb.Properties{ContentType: "application/json", MessageId: "4f1c2d3e-0000-1111-2222-333344445555", AppId: "shop"}}
	for i := range 8 {
		p.Headers[fmt.Sprintf("x-header-%d", i)] = str("some header value")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidPayload(p); err != nil {
			b.Fatal(err)
		}
	}
}
