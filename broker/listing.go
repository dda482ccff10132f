package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/warrenmq/warren/fsm"
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
//
// The page reflects everything committed before the call: this node first
// catches up with the meta leader (definitions) and with the leader of
// each queue group the page's queues live in (counts), as a follower read
// does in etcd (the leader's commit index, then apply up to it). A client
// that saw a publish, an ack or its consumer's end confirmed — through any
// node, in this process or an earlier `warren` command — sees it counted.
// A client-held index could not give that: each CLI command is a new
// client. It costs one small call per group led elsewhere, in parallel,
// and fails with the leader's absence (Unavailable, retried by the SDK)
// during an election rather than answer stale counts.
func (b *Broker) QueuesAfter(ctx context.Context, vhost, cursor string, limit int) ([]Queue, bool, error) {
	if err := b.catchUpMeta(ctx); err != nil {
		return nil, false, err
	}
	defs, more := pageAfter(b.queueDefs(vhost), queueDefName, cursor, limit)
	out, err := b.queuesOf(ctx, defs)
	return out, more, err
}

// QueueNames lists the names of vhost's queues, sorted, from this node's
// replica: definitions only, no counts, so a caller can filter and page a
// listing by name and then read counts for one page (QueuesNamed).
func (b *Broker) QueueNames(vhost string) []string {
	defs := b.queueDefs(vhost)
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name
	}
	return out
}

// QueuesNamed is QueuesAfter for the queues of vhost named names (a page
// of a filtered listing): the same catch-up, counts and rates, in the
// order of names; a name that no longer exists is left out.
func (b *Broker) QueuesNamed(ctx context.Context, vhost string, names []string) ([]Queue, error) {
	if err := b.catchUpMeta(ctx); err != nil {
		return nil, err
	}
	defs := make([]*fsm.QueueDef, 0, len(names))
	b.readMeta(func(m *fsm.Meta) {
		for _, n := range names {
			if d, ok := m.Queue(vhostName(vhost), n); ok {
				defs = append(defs, d)
			}
		}
	})
	return b.queuesOf(ctx, defs)
}

// queuesOf reads the counts and rates of the queues defs, after catching
// up with the leaders of their groups.
func (b *Broker) queuesOf(ctx context.Context, defs []*fsm.QueueDef) ([]Queue, error) {
	groups := map[uint32]bool{}
	for _, d := range defs {
		groups[d.Group] = true
	}
	if err := b.catchUpGroups(ctx, groups); err != nil {
		return nil, err
	}
	// Counts are read only for the page.
	out := make([]Queue, 0, len(defs))
	ids := make([]uint64, 0, len(defs))
	for _, d := range defs {
		if qg, err := b.queueGroup(d.Group); err == nil {
			out = append(out, qg.info(d))
			ids = append(ids, d.ID)
		}
	}
	// Rates are the counters of each group's leader: ask those led
	// elsewhere.
	b.fillRemoteRates(ctx, out, ids)
	return out, nil
}

// ExchangesAfter is one page of Exchanges, by name after cursor.
func (b *Broker) ExchangesAfter(vhost, cursor string, limit int) ([]Exchange, bool) {
	return pageAfter(b.Exchanges(vhost), func(e Exchange) string { return e.Name }, cursor, limit)
}

// BindingsAfter is one page of Bindings(exchange, queue), after the
// binding whose BindingCursor is cursor.
func (b *Broker) BindingsAfter(vhost, exchange, queue string, kind DestinationFilter, cursor string, limit int) ([]Binding, bool) {
	all := b.Bindings(vhost, exchange, queue)
	if kind != AnyDestination {
		kept := all[:0]
		for _, bd := range all {
			if bd.ToExchange == (kind == ExchangeDestination) {
				kept = append(kept, bd)
			}
		}
		all = kept
	}
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
	if bd.ToExchange {
		// After the queue binding of the same name and key.
		b.WriteString("\x00\x01e")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%v", k, bd.Args[k])
	}
	return b.String()
}

// DestinationFilter selects bindings by what they lead to.
type DestinationFilter int

const (
	// AnyDestination selects bindings to queues and to exchanges.
	AnyDestination DestinationFilter = iota
	// QueueDestination selects bindings to queues.
	QueueDestination
	// ExchangeDestination selects exchange-to-exchange bindings.
	ExchangeDestination
)
