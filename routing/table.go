package routing

import (
	"fmt"
	"slices"
)

// router is what each exchange kind implements. Table validates and
// deduplicates bindings before calling add or remove, so a router sees each
// binding added once and removed only after being added.
type router interface {
	add(id bindingID, b Binding)
	remove(id bindingID, b Binding)
	// route appends the matching queues to dst; the appended part must be
	// sorted and free of duplicates.
	route(routingKey string, headers map[string]Value, dst []string) []string
}

// Table holds one exchange's bindings and routes messages through them.
//
// A Table is not safe for concurrent mutation. Route only reads the table,
// so any number of Route calls may run concurrently as long as no Bind,
// Unbind or UnbindQueue runs at the same time. The zero Table is not
// usable; NewTable makes one.
type Table struct {
	kind     Kind
	bindings map[bindingID]Binding
	byQueue  map[string]map[bindingID]struct{}
	router   router
}

// NewTable returns an empty table for an exchange of the given kind. It
// panics if kind is not Direct, Fanout, Topic or Headers: kinds come from
// ParseKind or persisted state, so an unknown one is a programming error.
func NewTable(kind Kind) *Table {
	t := &Table{
		kind:     kind,
		bindings: make(map[bindingID]Binding),
		byQueue:  make(map[string]map[bindingID]struct{}),
	}
	switch kind {
	case Direct:
		t.router = newDirectRouter()
	case Fanout:
		t.router = &fanoutRouter{}
	case Topic:
		t.router = &topicRouter{}
	case Headers:
		t.router = newHeadersRouter()
	default:
		panic(fmt.Sprintf("routing: NewTable: %v", kind))
	}
	return t
}

// Kind returns the exchange kind the table was made for.
func (t *Table) Kind() Kind { return t.kind }

// ValidateBinding reports whether a table of the given kind can hold b,
// so that callers can refuse a bad binding before replicating it. The
// error wraps ErrBadBinding, or ErrBadKind for an unknown kind. Only
// headers bindings can be invalid: their x-match argument, when present,
// must be the string all, any, all-with-x or any-with-x. Any string is a
// valid direct or topic key.
func ValidateBinding(kind Kind, b Binding) error {
	switch kind {
	case Direct, Fanout, Topic:
		return nil
	case Headers:
		_, err := parseXMatch(b.Args)
		return err
	}
	return fmt.Errorf("%w: %v", ErrBadKind, kind)
}

// Bind adds b to the table. It returns added=false, and changes nothing,
// when an identical binding (same Queue, Key and Args, the arguments
// compared as maps with ==) already exists. It returns an error wrapping
// ErrBadBinding if the binding is invalid for the table's kind (see
// ValidateBinding). The table keeps its own copy of b.Args.
func (t *Table) Bind(b Binding) (added bool, err error) {
	if err := ValidateBinding(t.kind, b); err != nil {
		return false, err
	}
	id := idOf(b)
	if _, ok := t.bindings[id]; ok {
		return false, nil
	}
	b.Args = cloneArgs(b.Args)
	t.bindings[id] = b
	q := t.byQueue[b.Queue]
	if q == nil {
		q = make(map[bindingID]struct{})
		t.byQueue[b.Queue] = q
	}
	q[id] = struct{}{}
	t.router.add(id, b)
	return true, nil
}

// Unbind removes the binding identical to b (same Queue, Key and Args) and
// reports whether there was one.
func (t *Table) Unbind(b Binding) (removed bool) {
	id := idOf(b)
	stored, ok := t.bindings[id]
	if !ok {
		return false
	}
	t.remove(id, stored)
	return true
}

// UnbindQueue removes every binding to queue, as when the queue is
// deleted, and returns how many there were.
func (t *Table) UnbindQueue(queue string) int {
	q := t.byQueue[queue]
	// Removing in a fixed order keeps the table's internal layout a
	// function of the operation sequence alone, not of map order.
	ids := make([]bindingID, 0, len(q))
	for id := range q {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	for _, id := range ids {
		t.remove(id, t.bindings[id])
	}
	return len(ids)
}

func (t *Table) remove(id bindingID, b Binding) {
	delete(t.bindings, id)
	q := t.byQueue[b.Queue]
	delete(q, id)
	if len(q) == 0 {
		delete(t.byQueue, b.Queue)
	}
	t.router.remove(id, b)
}

// Len returns the number of bindings in the table.
func (t *Table) Len() int { return len(t.bindings) }

// Bindings returns every binding in a deterministic order: by queue, then
// key, then arguments in their canonical encoding. Each returned Args map
// is a fresh copy that the caller may modify; a binding without arguments
// has nil Args.
func (t *Table) Bindings() []Binding {
	ids := make([]bindingID, 0, len(t.bindings))
	for id := range t.bindings {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	out := make([]Binding, len(ids))
	for i, id := range ids {
		b := t.bindings[id]
		b.Args = cloneArgs(b.Args)
		out[i] = b
	}
	return out
}

// Route appends to dst the names of the queues a message with the given
// routing key and headers goes to, and returns the extended slice. The
// appended names are sorted and distinct: a queue reached through several
// bindings appears once. Entries already in dst are left as they are.
// Direct and topic tables ignore headers; headers and fanout tables ignore
// the routing key.
func (t *Table) Route(routingKey string, headers map[string]Value, dst []string) []string {
	return t.router.route(routingKey, headers, dst)
}
