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
