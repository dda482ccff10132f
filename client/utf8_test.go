package client

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/warrenmq/warren/transport/warrenpb"
)

func TestCheckUTF8NamesTheField(t *testing.T) {
	str := func(s string) *warrenpb.Value {
		return &warrenpb.Value{Kind: &warrenpb.Value_StringValue{StringValue: s}}
	}
	for _, c := range []struct {
		m    proto.Message
		want string // "" when valid
	}{
		{&warrenpb.DeclareQueueRequest{Name: "jobs", Arguments: map[string]*warrenpb.Value{"x-note": str("ünïcode")}}, ""},
		{&warrenpb.DeclareQueueRequest{Name: "a\xff"}, `client: invalid argument: name "a\xff" is not valid UTF-8`},
		{&warrenpb.DeclareQueueRequest{Name: "q", Arguments: map[string]*warrenpb.Value{"k\xfe": str("v")}}, `client: invalid argument: arguments key "k\xfe" is not valid UTF-8`},
		{&warrenpb.DeclareQueueRequest{Name: "q", Arguments: map[string]*warrenpb.Value{"k": str("v\xfe")}}, `client: invalid argument: arguments["k"].string_value "v\xfe" is not valid UTF-8`},
		{&warrenpb.PublishRequest{Entries: []*warrenpb.PublishEntry{{RoutingKey: "ok"}, {RoutingKey: "\xc3"}}}, `client: invalid argument: entries[1].routing_key "\xc3" is not valid UTF-8`},
	} {
		err := checkUTF8(c.m)
		if c.want == "" {
			if err != nil {
				t.Errorf("%v: %v", c.m, err)
			}
			continue
		}
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrInvalidArgument) || status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v (code %v), want %s", c.m, err, status.Code(err), c.want)
		}
	}
}

// TestCheckEntry: a publish entry's check returns its encoded size when
// every string is valid UTF-8, and names the first bad one otherwise, at
// any depth (a header's table, a property).
func TestCheckEntry(t *testing.T) {
	str := func(s string) *warrenpb.Value {
		return &warrenpb.Value{Kind: &warrenpb.Value_StringValue{StringValue: s}}
	}
	table := func(k string, v *warrenpb.Value) *warrenpb.Value {
		return &warrenpb.Value{Kind: &warrenpb.Value_TableValue{TableValue: &warrenpb.ValueTable{Fields: map[string]*warrenpb.Value{k: v}}}}
	}
	good := &warrenpb.PublishEntry{Exchange: "ex", RoutingKey: "ünï", Message: &warrenpb.Message{
		Body: make([]byte, 1024), Headers: map[string]*warrenpb.Value{"h": table("k", str("v"))},
		Properties: &warrenpb.Properties{ContentType: "text/plain"},
	}}
	size, err := checkEntry(good)
	if err != nil || size != proto.Size(good) {
		t.Fatalf("valid entry: size %d, %v; want %d, nil", size, err, proto.Size(good))
	}
	for _, c := range []struct {
		e    *warrenpb.PublishEntry
		want string
	}{
		{&warrenpb.PublishEntry{RoutingKey: "\xc3"}, `client: invalid argument: routing_key "\xc3" is not valid UTF-8`},
		{&warrenpb.PublishEntry{Message: &warrenpb.Message{Headers: map[string]*warrenpb.Value{"h": table("k", str("\xff"))}}},
			`client: invalid argument: message.headers["h"].table_value.fields["k"].string_value "\xff" is not valid UTF-8`},
		{&warrenpb.PublishEntry{Message: &warrenpb.Message{Properties: &warrenpb.Properties{ReplyTo: "r\xfe"}}},
			`client: invalid argument: message.properties.reply_to "r\xfe" is not valid UTF-8`},
	} {
		if _, err := checkEntry(c.e); err == nil || err.Error() != c.want || status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want %s", c.e, err, c.want)
		}
	}
}
