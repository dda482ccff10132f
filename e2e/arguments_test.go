package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestUnsupportedArgumentsRefused (issue 12, item 11): a queue or exchange
// argument Warren does not implement is refused with INVALID_ARGUMENT
// naming it — through the API, the SDK and the CLI — rather than kept and
// ignored, so x-expires cannot leave a queue in place forever unnoticed.
// Names without the x- prefix are the application's own and are kept, as
// RabbitMQ keeps them; supported ones work with or without the prefix.
func TestUnsupportedArgumentsRefused(t *testing.T) {
	n := startNode(t)
	api := n.Dial(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	intArg := func(v int64) *pb.Value { return &pb.Value{Kind: &pb.Value_IntValue{IntValue: v}} }
	strArg := func(v string) *pb.Value { return &pb.Value{Kind: &pb.Value_StringValue{StringValue: v}} }

	for _, name := range []string{"x-queue-mode", "x-no-such-argument"} {
		_, err := api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "q-" + name, Arguments: map[string]*pb.Value{
			"x-max-length": intArg(10), name: intArg(1),
		}})
		wantCode(t, "declare queue with "+name, err, codes.InvalidArgument)
		if msg := status.Convert(err).Message(); !strings.Contains(msg, `"`+name+`"`) || !strings.Contains(msg, "not supported") {
			t.Errorf("declare queue with %s: message %q does not name it as not supported", name, msg)
		}
		if _, err := api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "q-" + name, Passive: true}); status.Code(err) != codes.NotFound {
			t.Errorf("queue declared with %s exists after the refusal (passive declare: %v)", name, err)
		}
	}

	_, err := api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "s", Arguments: map[string]*pb.Value{"x-queue-type": strArg("stream")}})
	wantCode(t, "declare a stream", err, codes.InvalidArgument)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "streams are not supported") {
		t.Errorf("declare a stream: message %q does not say streams are not supported", msg)
	}

	_, err = api.DeclareExchange(ctx, &pb.DeclareExchangeRequest{Name: "ex", Kind: "direct", Arguments: map[string]*pb.Value{
		"x-no-such-argument": strArg("x"),
	}})
	wantCode(t, "declare exchange with x-no-such-argument", err, codes.InvalidArgument)

	// Supported with and without the prefix; an application's own kept.
	q, err := c.DeclareQueue(ctx, "kept", client.QueueOptions{Args: map[string]any{
		"max-length": int64(5), "x-message-ttl": int64(60000), "team": "billing", "x-queue-type": "quorum",
	}})
	if err != nil {
		t.Fatalf("declare with supported and own arguments: %v", err)
	}
	if q.Name != "kept" {
		t.Fatalf("declared %q", q.Name)
	}
	// Re-declared identically: the application's own argument counts.
	if _, err := c.DeclareQueue(ctx, "kept", client.QueueOptions{Args: map[string]any{
		"max-length": int64(5), "x-message-ttl": int64(60000), "team": "billing", "x-queue-type": "quorum",
	}}); err != nil {
		t.Fatalf("identical re-declare: %v", err)
	}

	// classic is accepted, with a notice saying what the queue is.
	cq, err := c.DeclareQueue(ctx, "classic", client.QueueOptions{Args: map[string]any{"x-queue-type": "classic"}})
	if err != nil || !strings.Contains(cq.Notice, "replicated") {
		t.Fatalf("declare x-queue-type classic: %+v, %v; want it accepted with a notice that it is replicated", cq, err)
	}
	if q.Notice != "" {
		t.Fatalf("a quorum queue got the notice %q", q.Notice)
	}
	if _, errOut, code := runCLI(t, "--server="+n.Addr, "queue", "declare", "classic-cli", "--arg", "x-queue-type=classic"); code != 0 || !strings.Contains(errOut, "note: x-queue-type \"classic\" accepted") {
		t.Fatalf("warren queue declare --arg x-queue-type=classic: exit %d, stderr %q; want success with the note", code, errOut)
	}

	_, errOut, code := runCLI(t, "--server="+n.Addr, "queue", "declare", "cli-q", "--arg", "x-no-such-argument=1000")
	if code == 0 || !strings.Contains(errOut, "x-no-such-argument") {
		t.Fatalf("warren queue declare --arg x-no-such-argument=1000: exit %d, stderr %q; want a failure naming the argument", code, errOut)
	}
}
