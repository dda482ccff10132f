package transport

import (
	"strings"
	"testing"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestHeadersCountTowardTheMessageLimit: 128 headers of 64 KiB with a
// 1-byte body (8 MiB) pass each per-header check, but not the 4 MiB
// message limit.
func TestHeadersCountTowardTheMessageLimit(t *testing.T) {
	l := DefaultLimits()
	headers := map[string]*pb.Value{}
	for i := range l.MaxHeaders {
		headers[strings.Repeat("h", 1+i)] = &pb.Value{Kind: &pb.Value_BytesValue{BytesValue: make([]byte, l.MaxHeaderValueBytes)}}
	}
	r := &pb.PublishRequest{Entries: []*pb.PublishEntry{{RoutingKey: "q", Message: &pb.Message{Body: []byte("x"), Headers: headers}}}}
	err := l.validatePublish(r)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "with its headers and properties") {
		t.Fatalf("8 MiB of headers: %v, want RESOURCE_EXHAUSTED naming the message limit", err)
	}
	r.Entries[0].Message.Headers = map[string]*pb.Value{"a": {Kind: &pb.Value_StringValue{StringValue: "b"}}}
	if err := l.validatePublish(r); err != nil {
		t.Fatalf("a small message: %v", err)
	}
}

// TestArgumentsHaveATotalLimit: a binding with 128 arguments of 64 KiB
// (8 MiB, once an INTERNAL "raft entry too large") is refused at the edge
// with the limit named.
func TestArgumentsHaveATotalLimit(t *testing.T) {
	l := DefaultLimits()
	args := map[string]*pb.Value{}
	for i := range l.MaxHeaders {
		args[strings.Repeat("a", 1+i)] = &pb.Value{Kind: &pb.Value_StringValue{StringValue: strings.Repeat("v", l.MaxHeaderValueBytes)}}
	}
	err := l.validateBindQueue(&pb.BindQueueRequest{Exchange: "amq.headers", Queue: "q", Arguments: args})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "in all") {
		t.Fatalf("8 MiB of binding arguments: %v, want RESOURCE_EXHAUSTED naming the total limit", err)
	}
	err = l.validateDeclareQueue(&pb.DeclareQueueRequest{Name: "q", Arguments: args})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("8 MiB of queue arguments: %v", err)
	}
}
