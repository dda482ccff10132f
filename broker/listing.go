package broker

import (
	"fmt"
	"sort"
	"strings"
)

// Listings come in pages: items sorted by a key, the page after a cursor
// (the key of the last item of the previous page; "" for the first), at
// most limit items, and whether more follow. A cursor whose item was
// deleted meanwhile still finds its place, so no item is listed twice and
// none that existed throughout is skipped.

// pageAfter returns the items whose key sorts after cursor, at most limit
// of them, and whether more follow. items must be sorted by key.
func pageAfter[T any](items []T, key func(T) string, cursor string, limit int) ([]T, bool) {
	start := 0
	if cursor != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > cursor })
	}
	end := min(len(items), start+limit)
	return items[start:end], end < len(items)
}

// QueuesAfter is one page of Queues: the queues whose name sorts after
// cursor, at most limit, and whether more follow.
func (b *Broker) QueuesAfter(vhost, cursor string, limit int) ([]Queue, bool) {
	// Counts are read only for the page.
	defs, more := pageAfter(b.queueDefs(vhost), queueDefName, cursor, limit)
	out := make([]Queue, 0, len(defs))
	for _, d := range defs {
		if qg, err := b.queueGroup(d.Group); err == nil {
			out = append(out, qg.info(d))
		}
	}
	return out, more
}

// ExchangesAfter is one page of Exchanges, by name after cursor.
func (b *Broker) ExchangesAfter(vhost, cursor string, limit int) ([]Exchange, bool) {
	return pageAfter(b.Exchanges(vhost), func(e Exchange) string { return e.Name }, cursor, limit)
}

// BindingsAfter is one page of Bindings(exchange, queue), after the
// binding whose BindingCursor is cursor.
func (b *Broker) BindingsAfter(vhost, exchange, queue, cursor string, limit int) ([]Binding, bool) {
	all := b.Bindings(vhost, exchange, queue)
	sort.SliceStable(all, func(i, j int) bool { return BindingCursor(all[i]) < BindingCursor(all[j]) })
	return pageAfter(all, BindingCursor, cursor, limit)
}

// BindingCursor is the key bindings are paged by: exchange, queue, key
// and arguments, in that order.
func BindingCursor(bd Binding) string {
	keys := make([]string, 0, len(bd.Args))
	for k := range bd.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(bd.Exchange + "\x00" + bd.Queue + "\x00" + bd.Key)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%v", k, bd.Args[k])
	}
	return b.String()
}
