package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

const toExchange = fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE

// exBind binds exchange dst to src with key.
func exBind(src, dst, key string) *fsmpb.Bind {
	return &fsmpb.Bind{Exchange: src, Queue: dst, Key: key, DestinationKind: toExchange}
}

// TestExchangeToExchangeRouting: several hops, a cycle, a queue reached
// twice gets one copy, keys matched at every hop with the message's key.
func TestExchangeToExchangeRouting(t *testing.T) {
	l := newMetaLog(t, 2)
	l.must(&fsmpb.DeclareExchange{Name: "a", Kind: "topic"})
	l.must(&fsmpb.DeclareExchange{Name: "b", Kind: "fanout"})
	l.must(&fsmpb.DeclareExchange{Name: "c", Kind: "direct", Internal: true})
	for _, q := range []string{"q1", "q2", "q3"} {
		l.must(&fsmpb.DeclareQueue{Name: q})
	}
	l.must(exBind("a", "b", "orders.#"))
	l.must(exBind("b", "c", ""))
	l.must(exBind("c", "a", "orders.new")) // a cycle a → b → c → a
	l.must(&fsmpb.Bind{Exchange: "c", Queue: "q1", Key: "orders.new"})
	l.must(&fsmpb.Bind{Exchange: "a", Queue: "q1", Key: "#"})
	l.must(&fsmpb.Bind{Exchange: "b", Queue: "q2"})
	l.must(&fsmpb.Bind{Exchange: "c", Queue: "q3", Key: "other"})

	if got := routeNames(t, l.m, "a", "orders.new", nil); !reflect.DeepEqual(got, []string{"q1", "q2"}) {
		t.Fatalf("a orders.new → %q, want [q1 q2]", got)
	}
	if got := routeNames(t, l.m, "a", "other", nil); !reflect.DeepEqual(got, []string{"q1"}) {
		t.Fatalf("a other → %q, want [q1] (a → b only for orders.#)", got)
	}
	if got := routeNames(t, l.m, "b", "other", nil); !reflect.DeepEqual(got, []string{"q2", "q3"}) {
		t.Fatalf("b other → %q, want [q2 q3]", got)
	}
	// c is internal: no publishes straight to it, ACCESS_REFUSED.
	if _, err := l.m.Route("", "c", "orders.new", nil); !errors.Is(err, ErrAccessRefused) {
		t.Fatalf("publish to internal exchange: %v, want ErrAccessRefused", err)
	}
	// Bindings list their destination kind.
	bs := l.m.Bindings("", "a", "")
	if len(bs) != 2 || bs[0].Queue != "b" || !bs[0].ToExchange || bs[1].Queue != "q1" || bs[1].ToExchange {
		t.Fatalf("bindings of a: %+v", bs)
	}

	// A snapshot keeps the kinds.
	var buf bytes.Buffer
	if err := l.m.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := RestoreMeta(bytes.NewReader(buf.Bytes()), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := routeNames(t, r, "a", "orders.new", nil); !reflect.DeepEqual(got, []string{"q1", "q2"}) {
		t.Fatalf("restored: a orders.new → %q", got)
	}
	if err := checkMetaInvariants(r, true); err != nil {
		t.Fatal(err)
	}

	// Unbind with the kind; a queue binding of the same name is another.
	l.must(&fsmpb.Unbind{Exchange: "a", Queue: "b", Key: "orders.#", DestinationKind: toExchange})
	if got := routeNames(t, l.m, "a", "orders.new", nil); !reflect.DeepEqual(got, []string{"q1"}) {
		t.Fatalf("after unbind: %q", got)
	}
	if err := checkMetaInvariants(l.m, true); err != nil {
		t.Fatal(err)
	}
}

// TestExchangeBindErrors: missing destination, the default exchange,
// a queue binding is not an exchange binding.
func TestExchangeBindErrors(t *testing.T) {
	l := newMetaLog(t, 1)
	l.must(&fsmpb.DeclareExchange{Name: "a", Kind: "fanout"})
	l.must(&fsmpb.DeclareQueue{Name: "b"})
	if res := l.apply(exBind("a", "b", "")); !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("bind to a missing exchange (a queue has the name): %v", res.Err)
	}
	if res := l.apply(exBind("a", "", "")); !errors.Is(res.Err, ErrInvalid) {
		t.Fatalf("bind to the default exchange: %v", res.Err)
	}
	if res := l.apply(&fsmpb.Bind{Exchange: "a", Queue: "x", DestinationKind: 7}); !errors.Is(res.Err, ErrInvalid) {
		t.Fatalf("unknown destination kind: %v", res.Err)
	}
}

// TestDeleteExchangeRemovesBindingsBothWays: deleting an exchange removes
// the bindings where it is source or destination; an auto-delete source
// left without bindings goes too.
func TestDeleteExchangeRemovesBindingsBothWays(t *testing.T) {
	l := newMetaLog(t, 1)
	l.must(&fsmpb.DeclareExchange{Name: "src", Kind: "fanout", AutoDelete: true})
	l.must(&fsmpb.DeclareExchange{Name: "keep", Kind: "fanout"})
	l.must(&fsmpb.DeclareExchange{Name: "mid", Kind: "fanout"})
	l.must(&fsmpb.DeclareExchange{Name: "dst", Kind: "fanout"})
	l.must(&fsmpb.DeclareQueue{Name: "q"})
	l.must(exBind("src", "mid", ""))
	l.must(exBind("keep", "mid", ""))
	l.must(exBind("mid", "dst", ""))
	l.must(exBind("mid", "mid", "self"))
	l.must(&fsmpb.Bind{Exchange: "dst", Queue: "q"})
	l.must(&fsmpb.DeleteExchange{Name: "mid"})
	if _, ok := l.m.Exchange("", "src"); ok {
		t.Fatal("auto-delete src still exists after its last binding went")
	}
	if bs := l.m.Bindings("", "", ""); len(bs) != 1 || bs[0].Exchange != "dst" {
		t.Fatalf("bindings left: %+v", bs)
	}
	if err := checkMetaInvariants(l.m, true); err != nil {
		t.Fatal(err)
	}
	if n := l.m.vhostObjects(DefaultVHost).bindings; n != 1 {
		t.Fatalf("vhost counts %d bindings, want 1", n)
	}
}

// TestAlternateExchange: an unroutable message goes to the alternate
// exchange, chains are followed, a cycle stops, a missing one is ignored,
// the default exchange as alternate delivers by the key.
func TestAlternateExchange(t *testing.T) {
	l := newMetaLog(t, 1)
	ae := func(name string) map[string]*fsmpb.Value {
		return map[string]*fsmpb.Value{"alternate-exchange": str(name)}
	}
	l.must(&fsmpb.DeclareExchange{Name: "main", Kind: "direct", Arguments: ae("ae1")})
	l.must(&fsmpb.DeclareExchange{Name: "ae1", Kind: "direct", Arguments: ae("ae2")})
	l.must(&fsmpb.DeclareExchange{Name: "ae2", Kind: "fanout", Arguments: ae("main")})
	l.must(&fsmpb.DeclareExchange{Name: "lost", Kind: "direct", Arguments: ae("missing")})
	l.must(&fsmpb.DeclareExchange{Name: "bykey", Kind: "direct", Arguments: map[string]*fsmpb.Value{"x-alternate-exchange": str("")}})
	for _, q := range []string{"routed", "ae1q", "unrouted"} {
		l.must(&fsmpb.DeclareQueue{Name: q})
	}
	l.must(&fsmpb.Bind{Exchange: "main", Queue: "routed", Key: "k"})
	l.must(&fsmpb.Bind{Exchange: "ae1", Queue: "ae1q", Key: "k1"})
	if got := routeNames(t, l.m, "main", "k", nil); !reflect.DeepEqual(got, []string{"routed"}) {
		t.Fatalf("routed message: %q", got)
	}
	if got := routeNames(t, l.m, "main", "k1", nil); !reflect.DeepEqual(got, []string{"ae1q"}) {
		t.Fatalf("to the first alternate: %q", got)
	}
	// main → ae1 → ae2 (fanout, nothing bound) → main: a cycle, nothing.
	if got := routeNames(t, l.m, "main", "x", nil); len(got) != 0 {
		t.Fatalf("cycle of alternates: %q", got)
	}
	l.must(&fsmpb.Bind{Exchange: "ae2", Queue: "unrouted"})
	if got := routeNames(t, l.m, "main", "x", nil); !reflect.DeepEqual(got, []string{"unrouted"}) {
		t.Fatalf("chain main → ae1 → ae2: %q", got)
	}
	if got := routeNames(t, l.m, "lost", "x", nil); len(got) != 0 {
		t.Fatalf("missing alternate: %q", got)
	}
	if got := routeNames(t, l.m, "bykey", "unrouted", nil); !reflect.DeepEqual(got, []string{"unrouted"}) {
		t.Fatalf("default exchange as alternate: %q", got)
	}
}
