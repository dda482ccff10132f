package e2e_test

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
)

// router publishes one message at a time and reports which of a fixed set
// of queues received it (each queue drained after every publish).
type router struct {
	t      *testing.T
	c      *client.Client
	queues []string
	seq    int
}

// route publishes a message with mandatory and returns, sorted, the queues
// that received it, failing if one received it more than once. Unroutable
// messages return nil.
func (r *router) route(exchange, key string, headers map[string]any) []string {
	r.t.Helper()
	r.seq++
	body := "route-" + strconv.Itoa(r.seq)
	ctx := testCtx(r.t, 10*time.Second)
	res, err := r.c.Publish(ctx, exchange, key, client.Message{Body: []byte(body), Headers: headers}, client.Mandatory())
	if err != nil {
		r.t.Fatalf("publish to %q/%q %v: %v", exchange, key, headers, err)
	}
	var got []string
	for _, q := range r.queues {
		bodies := drainGets(r.t, r.c, q)
		switch {
		case len(bodies) > 1:
			r.t.Errorf("queue %q got %v for one publish (to %q/%q): want the message once", q, bodies, exchange, key)
		case len(bodies) == 1 && bodies[0] != body:
			r.t.Errorf("queue %q got %q, want %q", q, bodies[0], body)
		}
		if len(bodies) > 0 {
			got = append(got, q)
		}
	}
	switch {
	case res.Status == client.Unroutable && len(got) != 0:
		r.t.Errorf("publish to %q/%q reported unroutable but reached %v", exchange, key, got)
	case res.Status == client.Confirmed && len(got) == 0:
		r.t.Errorf("publish to %q/%q with mandatory confirmed but reached no queue", exchange, key)
	case res.Status != client.Unroutable && res.Status != client.Confirmed:
		r.t.Errorf("publish to %q/%q: status %v", exchange, key, res.Status)
	}
	sort.Strings(got)
	return got
}

func (r *router) expect(exchange, key string, headers map[string]any, want ...string) {
	r.t.Helper()
	got := r.route(exchange, key, headers)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		r.t.Errorf("%q/%q %v reached %v, want %v", exchange, key, headers, got, want)
	}
}

func setupRouter(t *testing.T, queues ...string) *router {
	n := startNode(t)
	c := newClient(t, n.Addr)
	for _, q := range queues {
		declareQueue(t, c, q, nil)
	}
	return &router{t: t, c: c, queues: queues}
}

func declareExchange(t *testing.T, c *client.Client, name, kind string) {
	t.Helper()
	if err := c.DeclareExchange(testCtx(t, 10*time.Second), name, kind, client.ExchangeOptions{}); err != nil {
		t.Fatalf("declare %s exchange %q: %v", kind, name, err)
	}
}

// TestExchangeDirect: key equality; several queues may share a key.
func TestExchangeDirect(t *testing.T) {
	r := setupRouter(t, "d1", "d2", "d3")
	declareExchange(t, r.c, "ex.direct", "direct")
	bind(t, r.c, "ex.direct", "d1", "k1", nil)
	bind(t, r.c, "ex.direct", "d2", "k2", nil)
	bind(t, r.c, "ex.direct", "d3", "k1", nil)
	r.expect("ex.direct", "k1", nil, "d1", "d3")
	r.expect("ex.direct", "k2", nil, "d2")
	r.expect("ex.direct", "k", nil)
	r.expect("ex.direct", "k1.x", nil)
	r.expect("ex.direct", "K1", nil)
}

// TestExchangeTopic: * is one word, # zero or more; a.# matches a.
func TestExchangeTopic(t *testing.T) {
	r := setupRouter(t, "star", "ahash", "all", "midstar", "dup")
	declareExchange(t, r.c, "ex.topic", "topic")
	bind(t, r.c, "ex.topic", "star", "a.*", nil)
	bind(t, r.c, "ex.topic", "ahash", "a.#", nil)
	bind(t, r.c, "ex.topic", "all", "#", nil)
	bind(t, r.c, "ex.topic", "midstar", "*.b.*", nil)
	// Two bindings that both match a.b.c route it to dup once.
	bind(t, r.c, "ex.topic", "dup", "a.b.*", nil)
	bind(t, r.c, "ex.topic", "dup", "#.c", nil)

	r.expect("ex.topic", "a.x", nil, "star", "ahash", "all")
	r.expect("ex.topic", "a", nil, "ahash", "all")
	r.expect("ex.topic", "a.x.y", nil, "ahash", "all")
	r.expect("ex.topic", "x.a", nil, "all")
	r.expect("ex.topic", "x.b.y", nil, "all", "midstar")
	r.expect("ex.topic", "x.b", nil, "all")
	r.expect("ex.topic", "a.b.c", nil, "ahash", "all", "midstar", "dup")
	r.expect("ex.topic", "", nil, "all")
}

// TestExchangeFanout: every bound queue, whatever the keys.
func TestExchangeFanout(t *testing.T) {
	r := setupRouter(t, "f1", "f2", "other")
	declareExchange(t, r.c, "ex.fanout", "fanout")
	bind(t, r.c, "ex.fanout", "f1", "x", nil)
	bind(t, r.c, "ex.fanout", "f2", "", nil)
	r.expect("ex.fanout", "anything", nil, "f1", "f2")
	r.expect("ex.fanout", "", nil, "f1", "f2")
}

// TestExchangeHeaders: x-match all (the default) and any; an argument
// without a value matches on the header's presence.
func TestExchangeHeaders(t *testing.T) {
	r := setupRouter(t, "hall", "hany", "hpresent", "hdefault")
	declareExchange(t, r.c, "ex.headers", "headers")
	bind(t, r.c, "ex.headers", "hall", "", map[string]any{"x-match": "all", "a": 1, "b": "two"})
	bind(t, r.c, "ex.headers", "hany", "", map[string]any{"x-match": "any", "a": 1, "c": true})
	bind(t, r.c, "ex.headers", "hpresent", "", map[string]any{"flag": nil})
	bind(t, r.c, "ex.headers", "hdefault", "", map[string]any{"a": 1, "d": "dee"})

	r.expect("ex.headers", "", map[string]any{"a": 1, "b": "two"}, "hall", "hany")
	r.expect("ex.headers", "ignored", map[string]any{"a": 1, "b": "two", "extra": 9}, "hall", "hany")
	r.expect("ex.headers", "", map[string]any{"a": 1}, "hany")
	r.expect("ex.headers", "", map[string]any{"c": true}, "hany")
	r.expect("ex.headers", "", map[string]any{"c": false})
	r.expect("ex.headers", "", map[string]any{"a": 2, "b": "two"})
	r.expect("ex.headers", "", map[string]any{"flag": "whatever"}, "hpresent")
	r.expect("ex.headers", "", map[string]any{"flag": 0, "a": 1, "d": "dee"}, "hpresent", "hany", "hdefault")
	r.expect("ex.headers", "", map[string]any{"d": "dee"})
	r.expect("ex.headers", "", nil)
}

// TestExchangeDefaultAndBuiltins: the default exchange routes by queue name
// and cannot be bound; the amq.* exchanges exist from the start and route.
func TestExchangeDefaultAndBuiltins(t *testing.T) {
	r := setupRouter(t, "plain", "viatopic")
	ctx := testCtx(t, 10*time.Second)
	r.expect("", "plain", nil, "plain")
	r.expect("", "viatopic", nil, "viatopic")
	r.expect("", "nosuchqueue", nil)
	wantCode(t, "bind to the default exchange", r.c.Bind(ctx, "", "plain", "x", nil), codes.InvalidArgument)

	exs, err := r.c.ListExchanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, e := range exs {
		if e.Builtin {
			kinds[e.Name] = e.Kind
		}
	}
	for name, kind := range map[string]string{"": "direct", "amq.direct": "direct", "amq.topic": "topic", "amq.fanout": "fanout", "amq.headers": "headers"} {
		if kinds[name] != kind {
			t.Errorf("built-in exchange %q: kind %q, want %q (built-ins: %v)", name, kinds[name], kind, kinds)
		}
	}
	bind(t, r.c, "amq.topic", "viatopic", "x.*", nil)
	r.expect("amq.topic", "x.y", nil, "viatopic")
	r.expect("amq.topic", "x.y.z", nil)
}

// TestUnroutable: with mandatory the publisher learns that no queue took
// the message; without, it is confirmed and dropped.
func TestUnroutable(t *testing.T) {
	r := setupRouter(t, "bound")
	declareExchange(t, r.c, "ex.un", "direct")
	bind(t, r.c, "ex.un", "bound", "yes", nil)
	publish(t, r.c, "ex.un", "no", client.Message{Body: []byte("m1")}, client.Unroutable, client.Mandatory())
	publish(t, r.c, "ex.un", "no", client.Message{Body: []byte("m2")}, client.Confirmed)
	publish(t, r.c, "", "missing-queue", client.Message{Body: []byte("m3")}, client.Unroutable, client.Mandatory())
	publish(t, r.c, "", "missing-queue", client.Message{Body: []byte("m4")}, client.Confirmed)
	if got := drainGets(t, r.c, "bound"); len(got) != 0 {
		t.Fatalf("dropped messages reached a queue: %v", got)
	}
	// Routable messages still go through, with or without mandatory.
	publish(t, r.c, "ex.un", "yes", client.Message{Body: []byte("m5")}, client.Confirmed, client.Mandatory())
	publish(t, r.c, "ex.un", "yes", client.Message{Body: []byte("m6")}, client.Confirmed)
	if got := fmt.Sprint(drainGets(t, r.c, "bound")); got != "[m5 m6]" {
		t.Fatalf("bound queue holds %s, want [m5 m6]", got)
	}
}
