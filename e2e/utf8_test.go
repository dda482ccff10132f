package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestInvalidUTF8AnswersInvalidArgument (issue 10, first hour 7): a name,
// key, header or property that is not valid UTF-8 (every API string is a
// protobuf string) is refused by the SDK before it is marshaled, with
// INVALID_ARGUMENT naming the field, instead of gRPC's "error while
// marshaling … (Internal)"; a publish refused so does not fail another
// that shares its request; the CLI prints the code.
func TestInvalidUTF8AnswersInvalidArgument(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 30*time.Second)
	const bad = "jobs\xff"
	declareQueue(t, c, "jobs", nil)

	checks := []struct {
		what  string
		field string
		call  func() error
	}{
		{"declare queue", "name", func() error {
			_, err := c.DeclareQueue(ctx, bad, client.QueueOptions{})
			return err
		}},
		{"declare exchange", "name", func() error { return c.DeclareExchange(ctx, bad, "direct", client.ExchangeOptions{}) }},
		{"queue argument", "arguments", func() error {
			_, err := c.DeclareQueue(ctx, "q2", client.QueueOptions{Args: map[string]any{"note": bad}})
			return err
		}},
		{"bind key", "binding_key", func() error { return c.Bind(ctx, "amq.direct", "jobs", bad, nil) }},
		{"get", "queue", func() error {
			_, _, err := c.Get(ctx, bad, client.GetOptions{})
			return err
		}},
		{"consume", "queue", func() error {
			_, err := c.Subscribe(ctx, bad, client.ConsumeOptions{})
			return err
		}},
		{"publish routing key", "routing_key", func() error {
			_, err := c.Publish(ctx, "", bad, client.Message{Body: []byte("x")})
			return err
		}},
		{"publish header key", "headers", func() error {
			_, err := c.Publish(ctx, "", "jobs", client.Message{Body: []byte("x"), Headers: map[string]any{bad: 1}})
			return err
		}},
		{"publish header value", "headers", func() error {
			_, err := c.Publish(ctx, "", "jobs", client.Message{Body: []byte("x"), Headers: map[string]any{"k": bad}})
			return err
		}},
		{"publish content type", "content_type", func() error {
			_, err := c.Publish(ctx, "", "jobs", client.Message{Body: []byte("x"), ContentType: bad})
			return err
		}},
	}
	for _, k := range checks {
		err := k.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "UTF-8") || !strings.Contains(err.Error(), k.field) {
			t.Errorf("%s: %v (code %v), want InvalidArgument naming %s and UTF-8", k.what, err, status.Code(err), k.field)
		}
	}

	// A bad publish and a good one at once: they may share a request; only
	// the bad one fails.
	badF := c.PublishAsync(ctx, "", bad, client.Message{Body: []byte("x")})
	goodF := c.PublishAsync(ctx, "", "jobs", client.Message{Body: []byte("good")})
	if _, err := badF.Wait(ctx); status.Code(err) != codes.InvalidArgument {
		t.Errorf("async bad publish: %v", err)
	}
	if res, err := goodF.Wait(ctx); err != nil || res.Status != client.Confirmed {
		t.Errorf("good publish next to a bad one: %v, %v", res, err)
	}
	waitCounts(t, c, "jobs", 1, 0)

	// The CLI: the shell passes the bytes through.
	_, errOut, code := runCLI(t, "--server", n.Addr, "queue", "declare", bad)
	if code != 1 || !strings.Contains(errOut, "(InvalidArgument)") || !strings.Contains(errOut, "UTF-8") {
		t.Errorf("warren queue declare %q: exit %d, stderr %q; want 1 and InvalidArgument", bad, code, errOut)
	}
}
