package fsm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
)

// Bindings: binding and unbinding, the queue → bindings index, and the
// canonical identity of a binding.

// indexBinding and unindexBinding keep queueBindings and
// exchangeBindings; dest is the key of the binding's destination.
func (m *Meta) indexBinding(dest string, r bindingRef) {
	index := m.queueBindings
	if r.id.toExchange {
		index = m.exchangeBindings
	}
	set := index[dest]
	if set == nil {
		set = map[bindingRef]struct{}{}
		index[dest] = set
	}
	set[r] = struct{}{}
}

func (m *Meta) unindexBinding(r bindingRef) {
	index := m.queueBindings
	if r.id.toExchange {
		index = m.exchangeBindings
	}
	key := r.queueKey()
	set := index[key]
	delete(set, r)
	if len(set) == 0 {
		delete(index, key)
	}
}

func (m *Meta) autoDeleteIfUnused(ex *exchange) {
	if ex.def.AutoDelete && !ex.def.Builtin && len(ex.bindings) == 0 {
		m.removeExchange(ex)
	}
}

// checkBinding checks the fields Bind and Unbind share.
func checkBinding(exchange, dest string, kind fsmpb.DestinationKind, key string, args map[string]*fsmpb.Value) error {
	// "" is the default exchange, refused by bindTarget with its own reason.
	if err := ValidKey("exchange name", exchange); err != nil {
		return err
	}
	switch kind {
	case fsmpb.DestinationKind_DESTINATION_KIND_QUEUE:
		if err := ValidName("queue name", dest); err != nil {
			return err
		}
	case fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE:
		if err := ValidKey("destination exchange name", dest); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: destination kind %d", ErrInvalid, kind)
	}
	if err := ValidKey("binding key", key); err != nil {
		return err
	}
	return ValidArgs("binding arguments", args)
}

// bindTarget finds the source exchange of a binding and checks that its
// destination exists. The default exchange can be neither.
func (m *Meta) bindTarget(vhost, exName, dest string, toExchange bool) (*exchange, *Result) {
	if exName == DefaultExchange || (toExchange && dest == DefaultExchange) {
		return nil, fail("%w: the default exchange cannot be bound or unbound", ErrInvalid)
	}
	ex, ok := m.exchanges[objectKey(vhost, exName)]
	if !ok {
		return nil, fail("%w: no exchange %q", ErrNotFound, exName)
	}
	if toExchange {
		if _, ok := m.exchanges[objectKey(vhost, dest)]; !ok {
			return nil, fail("%w: no exchange %q", ErrNotFound, dest)
		}
		return ex, nil
	}
	if _, ok := m.queues[objectKey(vhost, dest)]; !ok {
		return nil, fail("%w: no queue %q", ErrNotFound, dest)
	}
	return ex, nil
}

func (m *Meta) applyBind(c *fsmpb.Bind) *Result {
	if err := checkBinding(c.GetExchange(), c.GetQueue(), c.GetDestinationKind(), c.GetKey(), c.GetArguments()); err != nil {
		return refuse(err)
	}
	return m.bind(c)
}

// bind adds a binding without checking it against the limits: applyBind
// has, and a restored snapshot holds what an earlier log accepted.
func (m *Meta) bind(c *fsmpb.Bind) *Result {
	vhost := vhostName(c.GetVhost())
	toExchange := c.GetDestinationKind() == fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	ex, res := m.bindTarget(vhost, c.GetExchange(), c.GetQueue(), toExchange)
	if res != nil {
		return res
	}
	b := BindingDef{VHost: vhost, Exchange: c.GetExchange(), Queue: c.GetQueue(), ToExchange: toExchange, Key: c.GetKey(), Args: cloneArgs(c.GetArguments())}
	id := newBindingID(b)
	if _, ok := ex.bindings[id]; ok {
		return &Result{}
	}
	if res := m.checkLimit(vhost, "bindings", m.vhostObjects(vhost).bindings, m.access.limits(vhost).MaxBindings); res != nil {
		return res
	}
	if _, err := ex.table.Bind(routing.Binding{Queue: tableDest(b.Queue, toExchange), Key: b.Key, Args: RoutingArgs(b.Args)}); err != nil {
		return fail("%w: %v", ErrInvalid, err)
	}
	ex.bindings[id] = b
	m.indexBinding(objectKey(vhost, b.Queue), bindingRef{ex.def.key(), id})
	m.countBindings(vhost, 1)
	return &Result{Created: true}
}

func (m *Meta) applyUnbind(c *fsmpb.Unbind) *Result {
	if err := checkBinding(c.GetExchange(), c.GetQueue(), c.GetDestinationKind(), c.GetKey(), c.GetArguments()); err != nil {
		return refuse(err)
	}
	vhost := vhostName(c.GetVhost())
	toExchange := c.GetDestinationKind() == fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	ex, res := m.bindTarget(vhost, c.GetExchange(), c.GetQueue(), toExchange)
	if res != nil {
		return res
	}
	b := BindingDef{VHost: vhost, Exchange: c.GetExchange(), Queue: c.GetQueue(), ToExchange: toExchange, Key: c.GetKey(), Args: c.GetArguments()}
	id := newBindingID(b)
	if _, ok := ex.bindings[id]; !ok {
		// RabbitMQ treats unbinding a missing binding as success.
		return &Result{}
	}
	m.dropBinding(ex, id)
	m.autoDeleteIfUnused(ex)
	return &Result{}
}

// dropBinding removes one binding of ex: from ex, its routing table, the
// index and the vhost's count.
func (m *Meta) dropBinding(ex *exchange, id bindingID) {
	b := ex.bindings[id]
	delete(ex.bindings, id)
	m.unindexBinding(bindingRef{ex.def.key(), id})
	m.countBindings(b.VHost, -1)
	ex.table.Unbind(routing.Binding{Queue: tableDest(b.Queue, b.ToExchange), Key: b.Key, Args: RoutingArgs(b.Args)})
}

func newBindingID(b BindingDef) bindingID {
	return bindingID{queue: b.Queue, key: b.Key, args: canonicalArgs(b.Args), toExchange: b.ToExchange}
}

// canonicalArgs encodes args deterministically (sorted keys) for identity
// and ordering.
func canonicalArgs(args map[string]*fsmpb.Value) string {
	if len(args) == 0 {
		return ""
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%s;", k, valueString(args[k]))
	}
	return sb.String()
}

func valueString(v *fsmpb.Value) string {
	switch k := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		return fmt.Sprintf("s%q", k.StringValue)
	case *fsmpb.Value_IntValue:
		return fmt.Sprintf("i%d", k.IntValue)
	case *fsmpb.Value_BoolValue:
		return fmt.Sprintf("b%t", k.BoolValue)
	case *fsmpb.Value_DoubleValue:
		return fmt.Sprintf("d%x", k.DoubleValue)
	case *fsmpb.Value_BytesValue:
		return fmt.Sprintf("y%x", k.BytesValue)
	case *fsmpb.Value_ListValue:
		return fmt.Sprintf("l%x", NestedEncoding(k.ListValue))
	case *fsmpb.Value_TableValue:
		return fmt.Sprintf("t%x", NestedEncoding(k.TableValue))
	}
	return "-"
}
