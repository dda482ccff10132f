package manage_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestCloseSession: an administrator closes a client's session through
// DELETE /api/connections/{session}: its consume stream ends, saying so,
// and the delivery it held unacked comes back, redelivered, to the next
// consumer. Others may not; an unknown session is 404.
func TestCloseSession(t *testing.T) {
	nd := startNode(t, true, false)
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/queues/%2F/work", map[string]any{})
	c, err := client.New(testCtx(t), []string{nd.n.Addr}, client.WithCredentials("guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Publish(testCtx(t), "", "work", client.Message{Body: []byte("held")}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(testCtx(t), "work", client.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	wait := 10 * time.Second * transporttest.TimeoutScale()
	select {
	case d := <-sub.Deliveries():
		if d.Redelivered {
			t.Fatal("first delivery marked redelivered")
		}
	case <-time.After(wait):
		t.Fatal("no delivery")
	}

	path := "/api/connections/" + c.SessionID()
	nd.expect(t, http.StatusForbidden, "mon", http.MethodDelete, path, nil)
	nd.expect(t, http.StatusForbidden, "alice", http.MethodDelete, path, nil)
	nd.expect(t, http.StatusNotFound, "guest", http.MethodDelete, "/api/connections/no-such-session", nil)
	nd.expect(t, http.StatusNoContent, "guest", http.MethodDelete, path, nil)

	select {
	case <-sub.Done():
		if err := sub.Err(); err == nil || !strings.Contains(err.Error(), "closed by an operator") {
			t.Fatalf("the stream ended with %v, want the operator's close named", err)
		}
	case <-time.After(wait):
		t.Fatal("the consume stream outlived its session's close")
	}
	// Another client takes it: the closed one is reconnecting meanwhile
	// (its session stream ended too), which would end a stream it opened.
	other, err := client.New(testCtx(t), []string{nd.n.Addr}, client.WithCredentials("guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	again, err := other.Subscribe(testCtx(t), "work", client.ConsumeOptions{Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	select {
	case d, ok := <-again.Deliveries():
		if !ok {
			t.Fatalf("the second subscription ended: %v", again.Err())
		}
		if string(d.Body) != "held" || !d.Redelivered {
			t.Fatalf("got %q redelivered=%v, want the held message redelivered", d.Body, d.Redelivered)
		}
	case <-time.After(wait):
		t.Fatal("the held message did not come back")
	}
}
