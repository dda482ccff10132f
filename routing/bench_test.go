package routing

import (
	"fmt"
	"testing"
)

// topicTable10k binds 10,000 topic patterns of the shapes real exchanges
// carry: per-region event subscriptions ending in "#", per-symbol stock
// ticks behind a "*", exact per-order keys, and one catch-all audit queue.
func topicTable10k(tb testing.TB) *Table {
	tbl := NewTable(Topic)
	n := 0
	bind := func(key, queue string) {
		mustBind(tb, tbl, Binding{Key: key, Queue: queue})
		n++
	}
	bind("#", "audit")
	for i := range 3333 {
		bind(fmt.Sprintf("region.%d.*.event.#", i), fmt.Sprintf("region-%d", i))
		bind(fmt.Sprintf("*.stock.%d", i), fmt.Sprintf("stock-%d", i))
		bind(fmt.Sprintf("orders.%d.created", i), fmt.Sprintf("orders-%d", i%100))
	}
	if n != 10000 {
		tb.Fatalf("bound %d patterns; want 10000", n)
	}
	return tbl
}

func benchRoute(b *testing.B, tbl *Table, key string, headers map[string]Value, want int) {
	dst := tbl.Route(key, headers, nil)
	if len(dst) != want {
		b.Fatalf("Route(%q, %v) = %q; want %d queues", key, headers, dst, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = tbl.Route(key, headers, dst[:0])
	}
}

// BenchmarkTopicRoute10k routes one message through 10,000 topic bindings.
func BenchmarkTopicRoute10k(b *testing.B) {
	tbl := topicTable10k(b)
	b.Run("hash-pattern", func(b *testing.B) {
		benchRoute(b, tbl, "region.1234.eu-west.event.login.ok", nil, 2)
	})
	b.Run("star-pattern", func(b *testing.B) {
		benchRoute(b, tbl, "nyse.stock.2718", nil, 2)
	})
	b.Run("exact", func(b *testing.B) {
		benchRoute(b, tbl, "orders.3141.created", nil, 2)
	})
	b.Run("catch-all-only", func(b *testing.B) {
		benchRoute(b, tbl, "unrelated.key.with.several.words", nil, 1)
	})
}

// BenchmarkTopicRouteManyHashes routes through a pattern whose "#" words
// can align with a long key in exponentially many ways.
func BenchmarkTopicRouteManyHashes(b *testing.B) {
	tbl := NewTable(Topic)
	mustBind(b, tbl, Binding{Key: "#.#.#.#.#.#.#.#.x", Queue: "q"})
	key := "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.x"
	benchRoute(b, tbl, key, nil, 1)
}

// BenchmarkDirectRoute10k routes one message through 10,000 direct
// bindings, two of which share its key.
func BenchmarkDirectRoute10k(b *testing.B) {
	tbl := NewTable(Direct)
	for i := range 9998 {
		mustBind(b, tbl, Binding{Key: fmt.Sprintf("task.%d", i), Queue: fmt.Sprintf("worker-%d", i)})
	}
	mustBind(b, tbl, Binding{Key: "task.42", Queue: "audit"})
	mustBind(b, tbl, Binding{Key: "task.42", Queue: "worker-42", Args: map[string]Value{"x-priority": i64(1)}})
	benchRoute(b, tbl, "task.42", nil, 2)
}

// BenchmarkHeadersRoute10k routes one message with a handful of headers
// through 10,000 headers bindings: per-tenant "all" bindings, per-region
// "any" bindings and one presence-only binding.
func BenchmarkHeadersRoute10k(b *testing.B) {
	tbl := NewTable(Headers)
	for i := range 5000 {
		mustBind(b, tbl, Binding{Queue: fmt.Sprintf("tenant-%d", i), Args: map[string]Value{
			"x-match": str("all"), "tenant": i64(int64(i)), "format": str("json")}})
		mustBind(b, tbl, Binding{Queue: fmt.Sprintf("region-%d", i%50), Args: map[string]Value{
			"x-match": str("any"), "region": str(fmt.Sprintf("r%d", i%50)), "zone": i64(int64(i))}})
	}
	headers := map[string]Value{
		"tenant":       i64(77),
		"format":       str("json"),
		"region":       str("r7"),
		"content-type": str("application/json"),
		"x-trace":      str("abc"),
	}
	// "region" is indexed under 5000 "any" probes; "tenant" under 5000
	// "all" probes: the worst case for this index.
	benchRoute(b, tbl, "", headers, 2)
}
