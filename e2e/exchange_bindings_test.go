package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	"google.golang.org/grpc/codes"
)

// TestExchangeToExchangeBindings (issue 12 item 5): bind an exchange to an
// exchange with the CLI and the SDK, route through several hops and a
// cycle with one copy per queue, refuse publishes to an internal exchange,
// list the destination kind, survive a restart, and drop the bindings of
// a deleted exchange on both sides.
func TestExchangeToExchangeBindings(t *testing.T) {
	dir := t.TempDir()
	n := transporttest.Start(t, transporttest.Options{DataDir: dir})
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)
	r := &router{t: t, c: c, queues: []string{"e2e.q1", "e2e.q2"}}
	for _, q := range r.queues {
		declareQueue(t, c, q, nil)
	}
	declareExchange(t, c, "e2e.up", "topic")
	if err := c.DeclareExchange(ctx, "e2e.down", "fanout", client.ExchangeOptions{Internal: true}); err != nil {
		t.Fatal(err)
	}
	server := "--server=" + n.Addr
	if out, errOut, code := runCLI(t, server, "bind", "e2e.up", "e2e.down", "--destination-type", "exchange", "--key", "orders.#"); code != 0 {
		t.Fatalf("warren bind --destination-type exchange: exit %d: %s %s", code, out, errOut)
	}
	// Without the flag the destination is a queue, as before.
	if _, errOut, code := runCLI(t, server, "bind", "e2e.up", "e2e.down"); code == 0 || !strings.Contains(errOut, `no queue "e2e.down"`) {
		t.Fatalf("bind to a queue named as an exchange: exit %d, %s", code, errOut)
	}
	if err := c.BindExchange(ctx, "e2e.down", "e2e.up", "", nil); err != nil { // a cycle
		t.Fatal(err)
	}
	bind(t, c, "e2e.down", "e2e.q1", "", nil)
	bind(t, c, "e2e.up", "e2e.q1", "#", nil)
	bind(t, c, "e2e.up", "e2e.q2", "orders.*", nil)

	check := func(when string) {
		t.Helper()
		r.expect("e2e.up", "orders.new", nil, "e2e.q1", "e2e.q2")
		r.expect("e2e.up", "orders.new.x", nil, "e2e.q1")
		r.expect("e2e.up", "other", nil, "e2e.q1")
		_, err := c.Publish(ctx, "e2e.down", "k", client.Message{Body: []byte("x")})
		wantCode(t, when+": publish to an internal exchange", err, codes.PermissionDenied)
		bs, err := c.ListBindings(ctx, client.BindingFilter{Destination: client.ExchangeDestination})
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 2 || bs[0].Exchange != "e2e.down" || bs[0].Queue != "e2e.up" || bs[1].Queue != "e2e.down" || bs[1].Destination != client.ExchangeDestination {
			t.Fatalf("%s: exchange bindings %+v", when, bs)
		}
	}
	check("before restart")
	out, errOut, code := runCLI(t, server, "binding", "list", "--exchange", "e2e.up")
	if code != 0 || !strings.Contains(out, "e2e.down") || !strings.Contains(out, "exchange") || !strings.Contains(out, "queue") {
		t.Fatalf("warren binding list: exit %d\n%s%s", code, out, errOut)
	}

	n.Stop()
	n = transporttest.Start(t, transporttest.Options{DataDir: dir})
	c = newClient(t, n.Addr)
	r.c = c
	check("after restart")

	// Deleting e2e.down removes e2e.up → e2e.down and e2e.down → *.
	if err := c.DeleteExchange(ctx, "e2e.down", client.DeleteExchangeOptions{}); err != nil {
		t.Fatal(err)
	}
	if bs, err := c.ListBindings(ctx, client.BindingFilter{Destination: client.ExchangeDestination}); err != nil || len(bs) != 0 {
		t.Fatalf("exchange bindings after delete: %+v, %v", bs, err)
	}
	r.expect("e2e.up", "orders.new", nil, "e2e.q1", "e2e.q2")
	if err := c.UnbindExchange(ctx, "e2e.up", "e2e.down", "orders.#", nil); err == nil || !strings.Contains(err.Error(), "no exchange") {
		t.Fatalf("unbind from a deleted exchange: %v", err)
	}
}

// TestExchangeBindPermissions: as RabbitMQ, binding an exchange needs
// write on the destination and read on the source.
func TestExchangeBindPermissions(t *testing.T) {
	n := startSecureNode(t)
	ctx := testCtx(t, 60*time.Second)
	admin := newClient(t, n.Addr)
	for _, x := range []string{"app.src", "app.dst", "other"} {
		declareExchange(t, admin, x, "fanout")
	}
	if err := admin.AddUser(ctx, "app", "pw", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "app", VHost: "/", Configure: `^app\.`, Write: `^app\.`, Read: `^app\.`}); err != nil {
		t.Fatal(err)
	}
	app := newClient(t, n.Addr, client.WithCredentials("app", "pw"))
	wantDenied(t, "bind to an exchange without write", app.BindExchange(ctx, "app.src", "other", "", nil), "write", `exchange "other"`)
	wantDenied(t, "bind from an exchange without read", app.BindExchange(ctx, "other", "app.dst", "", nil), "read", `exchange "other"`)
	if err := app.BindExchange(ctx, "app.src", "app.dst", "", nil); err != nil {
		t.Fatalf("bind within permissions: %v", err)
	}
	wantDenied(t, "unbind to an exchange without write", app.UnbindExchange(ctx, "app.src", "other", "", nil), "write", `exchange "other"`)
}

// TestAlternateExchange (issue 12 item 4): a message the exchange cannot
// route goes to its alternate exchange, through a chain; with mandatory it
// counts as routed; a cycle of alternates ends unroutable; a non-string
// alternate-exchange is refused.
func TestAlternateExchange(t *testing.T) {
	n := startNode(t)
	r := &router{t: t, c: newClient(t, n.Addr), queues: []string{"ae.routed", "ae.caught"}}
	for _, q := range r.queues {
		declareQueue(t, r.c, q, nil)
	}
	ctx := testCtx(t, 60*time.Second)
	server := "--server=" + n.Addr
	if out, errOut, code := runCLI(t, server, "exchange", "declare", "ae.main", "--kind", "direct", "--arg", "alternate-exchange=ae.first"); code != 0 {
		t.Fatalf("declare with alternate-exchange: exit %d: %s%s", code, out, errOut)
	}
	if err := r.c.DeclareExchange(ctx, "ae.first", "direct", client.ExchangeOptions{Args: map[string]any{"x-alternate-exchange": "ae.last"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.c.DeclareExchange(ctx, "ae.last", "fanout", client.ExchangeOptions{Args: map[string]any{"alternate-exchange": "ae.main"}}); err != nil {
		t.Fatal(err)
	}
	bind(t, r.c, "ae.main", "ae.routed", "k", nil)
	r.expect("ae.main", "k", nil, "ae.routed")
	// ae.main → ae.first → ae.last → ae.main: a cycle, unroutable.
	r.expect("ae.main", "x", nil)
	bind(t, r.c, "ae.last", "ae.caught", "", nil)
	// Routed through the chain: mandatory says confirmed (router checks).
	r.expect("ae.main", "x", nil, "ae.caught")
	r.expect("ae.main", "k", nil, "ae.routed")

	err := r.c.DeclareExchange(ctx, "ae.bad", "direct", client.ExchangeOptions{Args: map[string]any{"alternate-exchange": 5}})
	wantCode(t, "a non-string alternate-exchange", err, codes.InvalidArgument)
}
