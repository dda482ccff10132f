package fsm

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
)

// Route returns the queues a message published to exchange of vhost ("" is
// the default) with routing key and headers goes to, sorted by name, each
// once. An unknown exchange is an error wrapping ErrNotFound; an internal
// one, ErrAccessRefused (it takes messages only from other exchanges).
//
// Routing follows RabbitMQ's rabbit_exchange:route: from the exchange
// published to, each exchange reached routes the message by its own table
// to queues and to exchanges bound to it, which route it in turn; an
// exchange whose table matches nothing hands it to its alternate exchange
// (argument alternate-exchange), if that exists. Every exchange routes at
// most once per message, so cycles end and a queue reached several ways
// gets one copy. The walk is breadth first in a fixed order; its result is
// a set, so the order does not show.
func (m *Meta) Route(vhost, exchange, key string, headers map[string]routing.Value) ([]*QueueDef, error) {
	return m.route(vhost, exchange, key, headers, false)
}

// RouteDeadLetter is Route for a message a queue dead-letters: routing by
// the broker, not a publish, so an internal exchange takes it (as
// RabbitMQ's dead-lettering does).
func (m *Meta) RouteDeadLetter(vhost, exchange, key string, headers map[string]routing.Value) ([]*QueueDef, error) {
	return m.route(vhost, exchange, key, headers, true)
}

func (m *Meta) route(vhost, exchange, key string, headers map[string]routing.Value, internalOK bool) ([]*QueueDef, error) {
	if exchange == DefaultExchange {
		if q, ok := m.queues[objectKey(vhost, key)]; ok {
			return []*QueueDef{q}, nil
		}
		return nil, nil
	}
	ex, ok := m.exchanges[objectKey(vhost, exchange)]
	if !ok {
		return nil, fmt.Errorf("%w: no exchange %q", ErrNotFound, exchange)
	}
	if ex.def.Internal && !internalOK {
		return nil, fmt.Errorf("%w: exchange %q is internal: it takes messages only from exchanges bound to it", ErrAccessRefused, exchange)
	}
	names := ex.table.Route(key, headers, nil)
	if _, hasAE := ex.alternate(); !hasAE && !hasExchangeDest(names) {
		// One exchange, to queues only: the common case, with no set.
		out := make([]*QueueDef, 0, len(names))
		for _, n := range names {
			if q, ok := m.queues[objectKey(vhost, n[1:])]; ok {
				out = append(out, q)
			}
		}
		return out, nil
	}
	seen := map[string]bool{exchange: true}
	queues := map[string]*QueueDef{}
	work := []string{exchange}
	for len(work) > 0 {
		name := work[0]
		work = work[1:]
		var dests []string
		if name == DefaultExchange {
			// Reached as an alternate exchange: the queue named by the key.
			dests = []string{tableDest(key, false)}
			if _, ok := m.queues[objectKey(vhost, key)]; !ok {
				dests = nil
			}
		} else {
			x := m.exchanges[objectKey(vhost, name)]
			dests = x.table.Route(key, headers, nil)
			if len(dests) == 0 {
				if ae, ok := x.alternate(); ok {
					dests = []string{tableDest(ae, true)}
				}
			}
		}
		for _, d := range dests {
			n := d[1:]
			if d[0] == 'q' {
				if q, ok := m.queues[objectKey(vhost, n)]; ok {
					queues[n] = q
				}
				continue
			}
			if seen[n] {
				continue
			}
			seen[n] = true
			if _, ok := m.exchanges[objectKey(vhost, n)]; ok || n == DefaultExchange {
				work = append(work, n)
			}
		}
	}
	out := make([]*QueueDef, 0, len(queues))
	for _, n := range slices.Sorted(maps.Keys(queues)) {
		out = append(out, queues[n])
	}
	return out, nil
}

// hasExchangeDest reports whether a routing table's result names an
// exchange (tableDest).
func hasExchangeDest(dests []string) bool {
	for _, d := range dests {
		if d[0] == 'e' {
			return true
		}
	}
	return false
}

// alternate is the exchange's alternate exchange: its argument
// alternate-exchange (or x-alternate-exchange), when a string.
func (ex *exchange) alternate() (string, bool) {
	for _, k := range [...]string{"alternate-exchange", "x-alternate-exchange"} {
		if v, ok := ex.def.Args[k].GetKind().(*fsmpb.Value_StringValue); ok {
			return v.StringValue, true
		}
	}
	return "", false
}

// Queue returns the definition of the queue name in vhost ("" is the
// default).
func (m *Meta) Queue(vhost, name string) (*QueueDef, bool) {
	q, ok := m.queues[objectKey(vhost, name)]
	return q, ok
}

// Exchange returns the definition of the exchange name in vhost.
func (m *Meta) Exchange(vhost, name string) (ExchangeDef, bool) {
	ex, ok := m.exchanges[objectKey(vhost, name)]
	if !ok {
		return ExchangeDef{}, false
	}
	return ex.def, true
}

// Exchanges lists every exchange of every vhost, sorted by vhost and name.
func (m *Meta) Exchanges() []ExchangeDef {
	out := make([]ExchangeDef, 0, len(m.exchanges))
	for _, n := range m.exchangeNames() {
		out = append(out, m.exchanges[n].def)
	}
	return out
}

// Queues lists every queue of every vhost, sorted by vhost and name.
func (m *Meta) Queues() []*QueueDef {
	out := make([]*QueueDef, 0, len(m.queues))
	for _, n := range m.queueNames() {
		out = append(out, m.queues[n])
	}
	return out
}

// Bindings lists the bindings of vhost ("" for every vhost) sorted by
// vhost, exchange, queue, key and arguments; an empty exchange or queue
// matches everything.
func (m *Meta) Bindings(vhost, exchange, queue string) []BindingDef {
	var keys []string
	switch {
	case vhost != "" && exchange != "":
		keys = []string{objectKey(vhost, exchange)}
	case vhost != "":
		for _, n := range m.ExchangeNamesIn(vhost) {
			keys = append(keys, objectKey(vhost, n))
		}
	default:
		keys = m.exchangeNames()
	}
	var out []BindingDef
	for _, k := range keys {
		ex, ok := m.exchanges[k]
		if !ok || (exchange != "" && ex.def.Name != exchange) {
			continue
		}
		ids := make([]bindingID, 0, len(ex.bindings))
		for id := range ex.bindings {
			if queue == "" || id.queue == queue {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return lessBindingID(ids[i], ids[j]) })
		for _, id := range ids {
			out = append(out, ex.bindings[id])
		}
	}
	return out
}

// ExclusiveOwners returns the sessions that own exclusive queues, sorted.
// It reads the owner index: O(owners · log owners), whatever the number
// of queues.
func (m *Meta) ExclusiveOwners() []string {
	return slices.Sorted(maps.Keys(m.owners))
}

// HasExclusiveQueues reports whether session owns an exclusive queue. O(1).
func (m *Meta) HasExclusiveQueues(session string) bool {
	return len(m.owners[session]) > 0
}

func lessBindingID(a, b bindingID) bool {
	if a.queue != b.queue {
		return a.queue < b.queue
	}
	if a.toExchange != b.toExchange {
		return !a.toExchange
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.args < b.args
}

func (m *Meta) exchangeNames() []string {
	names := make([]string, 0, len(m.exchanges))
	for n := range m.exchanges {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m *Meta) queueNames() []string {
	names := make([]string, 0, len(m.queues))
	for n := range m.queues {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
