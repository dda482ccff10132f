package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// Virtual hosts: each has its own exchanges (the built-in ones included),
// queues and bindings; the same name in two vhosts is two objects. The
// maps of Meta are keyed by objectKey (vhost, NUL, name); vhostObjects
// indexes each vhost's objects so that its listing, its limits and its
// deletion cost what it holds.

type vhostObjects struct {
	exchanges map[string]struct{} // names
	queues    map[string]struct{}
	bindings  int
}

// vhostObjects returns vhost's index, made on first use.
func (m *Meta) vhostObjects(vhost string) *vhostObjects {
	o := m.objects[vhost]
	if o == nil {
		o = &vhostObjects{exchanges: map[string]struct{}{}, queues: map[string]struct{}{}}
		m.objects[vhost] = o
	}
	return o
}

// unindexObject applies f to vhost's index and drops an index left empty.
func (m *Meta) unindexObject(vhost string, f func(*vhostObjects)) {
	o := m.objects[vhost]
	if o == nil {
		return
	}
	f(o)
	if len(o.exchanges) == 0 && len(o.queues) == 0 && o.bindings == 0 {
		delete(m.objects, vhost)
	}
}

func (m *Meta) countBindings(vhost string, delta int) {
	if delta > 0 {
		m.vhostObjects(vhost).bindings += delta
		return
	}
	m.unindexObject(vhost, func(o *vhostObjects) { o.bindings += delta })
}

// addExchange stores a new exchange and indexes it.
func (m *Meta) addExchange(ex *exchange) {
	m.exchanges[ex.def.key()] = ex
	m.vhostObjects(ex.def.VHost).exchanges[ex.def.Name] = struct{}{}
}

// removeExchange deletes an exchange, its bindings and their index
// entries, and the bindings of other exchanges that lead to it; a source
// left without bindings by that and marked auto-delete goes too (in name
// order). It costs the bindings it removes (exchangeBindings lists those
// that lead to it).
func (m *Meta) removeExchange(ex *exchange) {
	key := ex.def.key()
	for id := range ex.bindings {
		m.unindexBinding(bindingRef{key, id})
	}
	n := len(ex.bindings)
	delete(m.exchanges, key)
	m.unindexObject(ex.def.VHost, func(o *vhostObjects) {
		delete(o.exchanges, ex.def.Name)
		o.bindings -= n
	})
	refs := m.exchangeBindings[key]
	if len(refs) == 0 {
		return
	}
	// Sorted, so the tables' layout and the auto-deletes do not follow
	// map order.
	sorted := slices.SortedFunc(maps.Keys(refs), func(a, b bindingRef) int {
		if a.exchange != b.exchange {
			return strings.Compare(a.exchange, b.exchange)
		}
		if lessBindingID(a.id, b.id) {
			return -1
		}
		if lessBindingID(b.id, a.id) {
			return 1
		}
		return 0
	})
	var sources []string
	for _, r := range sorted {
		if src, ok := m.exchanges[r.exchange]; ok { // not ex itself: gone above
			m.dropBinding(src, r.id)
			sources = append(sources, r.exchange)
		}
	}
	delete(m.exchangeBindings, key)
	for _, name := range slices.Compact(sources) {
		if src, ok := m.exchanges[name]; ok {
			m.autoDeleteIfUnused(src)
		}
	}
}

func (q *QueueDef) dropped() DroppedQueue {
	return DroppedQueue{ID: q.ID, VHost: q.VHost, Name: q.Name, Group: q.Group}
}

// checkVHost is the result of a command naming a vhost that does not
// exist (or is no valid vhost name), nil when it exists.
func (m *Meta) checkVHost(vhost string) *Result {
	if _, ok := m.access.vhosts[vhost]; ok {
		return nil
	}
	if err := validVHost(vhost); err != nil {
		return refuse(err)
	}
	return fail("%w: no virtual host %q", ErrNotFound, vhost)
}

// checkLimit refuses one more of what in vhost when it holds count and
// its limit max is set and reached.
func (m *Meta) checkLimit(vhost, what string, count int, max *int64) *Result {
	if max != nil && int64(count) >= *max {
		return fail("%w: virtual host %q has %d %s; its max-%s limit is %d", ErrLimit, vhost, count, what, what, *max)
	}
	return nil
}

// validVHost checks a virtual host name: a name (ValidName) without a NUL,
// which separates the vhost from the name in the state's keys.
func validVHost(v string) error {
	if err := ValidName("virtual host", v); err != nil {
		return err
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: virtual host %q holds a NUL character", ErrInvalid, v)
	}
	return nil
}

func (m *Meta) applyAddVHost(c *fsmpb.AddVHost) *Result {
	if err := validVHost(c.GetName()); err != nil {
		return refuse(err)
	}
	res := m.access.addVHost(c.GetName())
	if res.Err == nil {
		m.addBuiltins(c.GetName())
	}
	return res
}

// applyDeleteVHost deletes a virtual host with its queues (in name order),
// exchanges, bindings and permissions. It costs what the vhost holds.
func (m *Meta) applyDeleteVHost(c *fsmpb.DeleteVHost) *Result {
	name := c.GetName()
	if name == DefaultVHost {
		return fail("%w: virtual host %q is the default and cannot be deleted", ErrInvalid, name)
	}
	if res := m.checkVHost(name); res != nil {
		return res
	}
	res := &Result{}
	for _, q := range m.QueuesIn(name) {
		m.removeQueue(q)
		res.DroppedQueues = append(res.DroppedQueues, q.dropped())
	}
	for _, n := range m.ExchangeNamesIn(name) {
		if ex, ok := m.exchanges[objectKey(name, n)]; ok { // an auto-delete one may be gone
			m.removeExchange(ex)
		}
	}
	m.access.deleteVHost(name)
	return res
}

func (m *Meta) applySetVHostLimits(c *fsmpb.SetVHostLimits) *Result {
	if res := m.checkVHost(c.GetName()); res != nil {
		return res
	}
	l := c.GetLimits()
	for _, v := range []*int64{l.MaxQueues, l.MaxExchanges, l.MaxBindings} {
		if v != nil && *v < 0 {
			return fail("%w: a virtual host limit is %d; give 0 or more, or no limit", ErrInvalid, *v)
		}
	}
	m.access.vhosts[c.GetName()] = proto.Clone(l).(*fsmpb.VHostLimits)
	return &Result{}
}

// QueuesIn lists the queues of vhost sorted by name: O(the vhost's queues).
func (m *Meta) QueuesIn(vhost string) []*QueueDef {
	o := m.objects[vhost]
	if o == nil {
		return nil
	}
	names := make([]string, 0, len(o.queues))
	for n := range o.queues {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*QueueDef, len(names))
	for i, n := range names {
		out[i] = m.queues[objectKey(vhost, n)]
	}
	return out
}

// ExchangeNamesIn lists the names of vhost's exchanges, sorted.
func (m *Meta) ExchangeNamesIn(vhost string) []string {
	o := m.objects[vhost]
	if o == nil {
		return nil
	}
	names := make([]string, 0, len(o.exchanges))
	for n := range o.exchanges {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ExchangesIn lists the exchanges of vhost sorted by name.
func (m *Meta) ExchangesIn(vhost string) []ExchangeDef {
	names := m.ExchangeNamesIn(vhost)
	out := make([]ExchangeDef, len(names))
	for i, n := range names {
		out[i] = m.exchanges[objectKey(vhost, n)].def
	}
	return out
}

// VHostLimits returns vhost's limits (an empty message when it has none).
func (m *Meta) VHostLimits(vhost string) *fsmpb.VHostLimits { return m.access.limits(vhost) }
