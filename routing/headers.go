package routing

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// xMatchKey is the binding argument that selects how a headers binding
// combines its other arguments.
const xMatchKey = "x-match"

// xMatch is a parsed x-match value.
type xMatch struct {
	any   bool // at least one argument must match, rather than all
	withX bool // arguments named x-* take part in matching
}

// parseXMatch reads the x-match argument. Absent means "all", as in
// RabbitMQ; anything but one of the four known strings is refused, because
// RabbitMQ refuses it too and silently falling back to "all" would route
// differently from what the client asked for.
func parseXMatch(args map[string]Value) (xMatch, error) {
	v, ok := args[xMatchKey]
	if !ok {
		return xMatch{}, nil
	}
	if v.Type != ValueString {
		return xMatch{}, fmt.Errorf("%w: x-match must be a string, got value type %d", ErrBadBinding, v.Type)
	}
	switch v.Str {
	case "all":
		return xMatch{}, nil
	case "any":
		return xMatch{any: true}, nil
	case "all-with-x":
		return xMatch{withX: true}, nil
	case "any-with-x":
		return xMatch{any: true, withX: true}, nil
	}
	return xMatch{}, fmt.Errorf("%w: x-match %q (want all, any, all-with-x or any-with-x)", ErrBadBinding, v.Str)
}

// headerArg is one binding argument that takes part in matching.
type headerArg struct {
	key string
	val Value
}

// matches applies RabbitMQ's rule to one argument: a value-less argument
// asks only that the header be present; any other must be present and
// equal in type and content.
func (a headerArg) matches(headers map[string]Value) bool {
	h, ok := headers[a.key]
	return ok && (a.val.Type == ValueNone || h == a.val)
}

// unmatchable reports whether no header can ever equal the argument: a
// Value holding NaN is unequal to everything, itself included. Such
// arguments stay out of the index, where a NaN map key could never be
// found again to remove it.
func (a headerArg) unmatchable() bool {
	return a.val.Type != ValueNone && a.val != a.val
}

// headerBinding is a headers binding prepared for matching.
type headerBinding struct {
	queue string
	mode  xMatch
	args  []headerArg // the arguments that count, sorted by key
	// slot is the argument an "all" binding is indexed under, chosen
	// when it is added and kept so that removal finds it again.
	slot *headerArg
}

func newHeaderBinding(b Binding) *headerBinding {
	mode, _ := parseXMatch(b.Args) // Bind validated already
	hb := &headerBinding{queue: b.Queue, mode: mode}
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		if k == xMatchKey || (!mode.withX && strings.HasPrefix(k, "x-")) {
			continue
		}
		hb.args = append(hb.args, headerArg{key: k, val: b.Args[k]})
	}
	return hb
}

// matchesAll reports whether every counted argument matches.
func (hb *headerBinding) matchesAll(headers map[string]Value) bool {
	for _, a := range hb.args {
		if !a.matches(headers) {
			return false
		}
	}
	return true
}

// headersRouter avoids testing every binding against every message (which
// is what RabbitMQ does) by indexing bindings under the headers that can
// satisfy them: (name, value) for a valued argument, name alone for a
// presence-only one. Route looks up each message header and so touches
// only bindings that at least one header satisfies:
//
//   - "any" is indexed under each argument, and any hit is a match.
//   - "all" with arguments is indexed under one of them, since a message
//     that does not satisfy it cannot match; a hit is then fully tested.
//     Which one depends on the index's state when the binding is added
//     (see leastUsed). That affects speed only, never the result.
//   - "all" with no counted arguments matches every message: it is held in
//     always and never tested.
//   - bindings that can never match ("any" with no counted arguments, or
//     only NaN ones; "all" with a NaN argument) are not indexed at all.
type headersRouter struct {
	bindings map[bindingID]*headerBinding
	always   queueSet
	byValue  map[headerArg][]*headerBinding
	byName   map[string][]*headerBinding
}

func newHeadersRouter() *headersRouter {
	return &headersRouter{
		bindings: make(map[bindingID]*headerBinding),
		byValue:  make(map[headerArg][]*headerBinding),
		byName:   make(map[string][]*headerBinding),
	}
}

// indexArgs returns the arguments hb is indexed under; see headersRouter.
func (r *headersRouter) indexArgs(hb *headerBinding) []headerArg {
	if hb.mode.any {
		var out []headerArg
		for _, a := range hb.args {
			if !a.unmatchable() {
				out = append(out, a)
			}
		}
		return out
	}
	if len(hb.args) == 0 || slices.ContainsFunc(hb.args, headerArg.unmatchable) {
		return nil
	}
	if hb.slot == nil {
		hb.slot = &hb.args[r.leastUsed(hb.args)]
	}
	return []headerArg{*hb.slot}
}

// leastUsed picks the argument whose index slot is shortest, so that an
// argument every binding shares (say format=json) does not make each
// message with that header test every binding. Ties go to a valued
// argument over a presence-only one, then to the first by name.
func (r *headersRouter) leastUsed(args []headerArg) int {
	best, bestLen, bestPresence := 0, 0, false
	for i, a := range args {
		n := len(r.entries(a))
		presence := a.val.Type == ValueNone
		if i == 0 || n < bestLen || (n == bestLen && bestPresence && !presence) {
			best, bestLen, bestPresence = i, n, presence
		}
	}
	return best
}

// entries returns the index entries for a.
func (r *headersRouter) entries(a headerArg) []*headerBinding {
	if a.val.Type == ValueNone {
		return r.byName[a.key]
	}
	return r.byValue[a]
}

func (r *headersRouter) add(id bindingID, b Binding) {
	hb := newHeaderBinding(b)
	r.bindings[id] = hb
	if !hb.mode.any && len(hb.args) == 0 {
		r.always.add(hb.queue)
		return
	}
	for _, a := range r.indexArgs(hb) {
		if a.val.Type == ValueNone {
			r.byName[a.key] = append(r.byName[a.key], hb)
		} else {
			r.byValue[a] = append(r.byValue[a], hb)
		}
	}
}

func (r *headersRouter) remove(id bindingID, _ Binding) {
	hb := r.bindings[id]
	delete(r.bindings, id)
	if !hb.mode.any && len(hb.args) == 0 {
		r.always.remove(hb.queue)
		return
	}
	for _, a := range r.indexArgs(hb) {
		if a.val.Type == ValueNone {
			unindex(r.byName, a.key, hb)
		} else {
			unindex(r.byValue, a, hb)
		}
	}
}

// unindex removes hb from m[k]. It keeps the order of the rest so the
// index's layout depends only on the sequence of Bind and Unbind calls.
func unindex[K comparable](m map[K][]*headerBinding, k K, hb *headerBinding) {
	list := m[k]
	i := slices.Index(list, hb)
	list = slices.Delete(list, i, i+1)
	if len(list) == 0 {
		delete(m, k)
		return
	}
	m[k] = list
}

// route ranges over the message headers; map order only affects the order
// of appends, which the final sort erases.
func (r *headersRouter) route(_ string, headers map[string]Value, dst []string) []string {
	start := len(dst)
	dst = append(dst, r.always.sorted...)
	for name, v := range headers {
		dst = probe(r.byName[name], headers, dst)
		if v.Type != ValueNone { // a value-less header equals no valued argument
			dst = probe(r.byValue[headerArg{name, v}], headers, dst)
		}
	}
	if len(dst)-start > 1 {
		slices.Sort(dst[start:])
		dst = dst[:start+len(slices.Compact(dst[start:]))]
	}
	return dst
}

// probe appends the queues of the bindings hit by one header. For "any" a
// hit is a match; "all" still needs its other arguments checked.
func probe(hit []*headerBinding, headers map[string]Value, dst []string) []string {
	for _, hb := range hit {
		if hb.mode.any || hb.matchesAll(headers) {
			dst = append(dst, hb.queue)
		}
	}
	return dst
}
