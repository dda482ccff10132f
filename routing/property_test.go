package routing

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// Generators draw from tiny alphabets so that random patterns, keys and
// arguments collide often enough to exercise matches, duplicates and
// shared trie prefixes.

// topicKeyGen joins zero to maxWords words. Empty words are included, and
// the wildcards, which in a routing key are plain words.
func topicKeyGen(maxWords int) *rapid.Generator[string] {
	word := rapid.SampledFrom([]string{"a", "b", "", "*", "#"})
	return rapid.Map(rapid.SliceOfN(word, 0, maxWords), func(ws []string) string {
		return strings.Join(ws, ".")
	})
}

var valueGen = rapid.SampledFrom([]Value{
	present, str("1"), str("2"), i64(1), i64(2), boolean(true), bytesVal("1"), float(1),
})

// argsGen draws binding arguments, sometimes with an x-match, which is
// occasionally invalid so that Bind's validation is exercised too.
var argsGen = rapid.Custom(func(t *rapid.T) map[string]Value {
	args := rapid.MapOfN(rapid.SampledFrom([]string{"a", "b", "x-a"}), valueGen, 0, 3).Draw(t, "args")
	xm := rapid.SampledFrom([]Value{
		{Type: 255}, // no x-match
		str("all"), str("any"), str("all-with-x"), str("any-with-x"),
		str("bogus"), i64(1),
	}).Draw(t, "x-match")
	if xm.Type != 255 {
		args["x-match"] = xm
	}
	return args
})

var headersGen = rapid.MapOfN(rapid.SampledFrom([]string{"a", "b", "c", "x-a", "x-match"}), valueGen, 0, 4)

var queueGen = rapid.SampledFrom([]string{"q0", "q1", "q2", "q3"})

func bindingGen(kind Kind) *rapid.Generator[Binding] {
	return rapid.Custom(func(t *rapid.T) Binding {
		b := Binding{Queue: queueGen.Draw(t, "queue"), Key: topicKeyGen(4).Draw(t, "key")}
		if kind == Headers || rapid.IntRange(0, 3).Draw(t, "has args") == 0 {
			b.Args = argsGen.Draw(t, "args")
		}
		return b
	})
}

// TestPropTopicMatchesReference: a table of random topic bindings routes
// every random key exactly as the naive matcher says.
func TestPropTopicMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		patterns := rapid.SliceOfN(topicKeyGen(5), 0, 12).Draw(t, "patterns")
		tbl := NewTable(Topic)
		var bindings []Binding
		for i, p := range patterns {
			b := Binding{Queue: fmt.Sprintf("q%d", i%5), Key: p}
			if _, err := tbl.Bind(b); err != nil {
				t.Fatalf("Bind(%+v): %v", b, err)
			}
			bindings = append(bindings, b)
		}
		for _, key := range rapid.SliceOfN(topicKeyGen(6), 1, 6).Draw(t, "keys") {
			got := tbl.Route(key, nil, nil)
			if want := refRoute(Topic, bindings, key, nil); !slices.Equal(got, want) {
				t.Fatalf("Route(%q) = %q; reference %q", key, got, want)
			}
		}
	})
}

// TestPropBindUnbindMatchesModel runs random Bind, Unbind and UnbindQueue
// sequences on each kind against a model that is just the list of live
// bindings, checking every result, Len, Route and finally Bindings.
func TestPropBindUnbindMatchesModel(t *testing.T) {
	for _, kind := range []Kind{Direct, Fanout, Topic, Headers} {
		t.Run(kind.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) { checkAgainstModel(t, kind) })
		})
	}
}

func checkAgainstModel(t *rapid.T, kind Kind) {
	tbl := NewTable(kind)
	var live []Binding
	find := func(b Binding) int {
		return slices.IndexFunc(live, func(l Binding) bool { return refSameBinding(l, b) })
	}
	steps := rapid.IntRange(1, 40).Draw(t, "steps")
	for range steps {
		// Reuse a live binding half the time so that duplicates and
		// removals of present bindings are common.
		b := bindingGen(kind).Draw(t, "binding")
		if len(live) > 0 && rapid.Bool().Draw(t, "reuse") {
			b = live[rapid.IntRange(0, len(live)-1).Draw(t, "which")]
		}
		switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
		case op < 5:
			valid := kind != Headers || refValidHeaders(b.Args)
			wantAdded := valid && find(b) < 0
			added, err := tbl.Bind(b)
			if added != wantAdded || (err == nil) != valid {
				t.Fatalf("Bind(%+v) = %v, %v; want added=%v, valid=%v", b, added, err, wantAdded, valid)
			}
			if added {
				live = append(live, b)
			}
		case op < 8:
			i := find(b)
			if removed := tbl.Unbind(b); removed != (i >= 0) {
				t.Fatalf("Unbind(%+v) = %v; want %v", b, removed, i >= 0)
			}
			if i >= 0 {
				live = slices.Delete(live, i, i+1)
			}
		default:
			before := len(live)
			live = slices.DeleteFunc(live, func(l Binding) bool { return l.Queue == b.Queue })
			if n := tbl.UnbindQueue(b.Queue); n != before-len(live) {
				t.Fatalf("UnbindQueue(%q) = %d; want %d", b.Queue, n, before-len(live))
			}
		}
		if tbl.Len() != len(live) {
			t.Fatalf("Len = %d; want %d", tbl.Len(), len(live))
		}
		for range 3 {
			key := topicKeyGen(4).Draw(t, "routing key")
			headers := headersGen.Draw(t, "headers")
			want := refRoute(kind, live, key, headers)
			got := tbl.Route(key, headers, []string{"zz-prefix"})
			if got[0] != "zz-prefix" || !slices.Equal(got[1:], want) {
				t.Fatalf("Route(%q, %v) = %q; want [zz-prefix] + %q\nlive: %+v", key, headers, got, want, live)
			}
		}
	}

	listed := tbl.Bindings()
	if len(listed) != len(live) {
		t.Fatalf("Bindings() has %d entries; want %d", len(listed), len(live))
	}
	for i, b := range listed {
		if find(b) < 0 {
			t.Fatalf("Bindings() lists %+v, which is not live", b)
		}
		if i > 0 {
			p := listed[i-1]
			if p.Queue > b.Queue || (p.Queue == b.Queue && p.Key > b.Key) {
				t.Fatalf("Bindings() out of order: %+v before %+v", p, b)
			}
		}
	}
	// Order and content depend on the set alone, not on history.
	fresh := NewTable(kind)
	for _, b := range slices.Backward(live) {
		if _, err := fresh.Bind(b); err != nil {
			t.Fatalf("rebinding %+v: %v", b, err)
		}
	}
	if !reflect.DeepEqual(fresh.Bindings(), listed) {
		t.Fatalf("Bindings() depends on binding history:\n%+v\n%+v", fresh.Bindings(), listed)
	}
}

// TestPropRouteSortedDistinct: whatever the bindings, Route's output is
// sorted and free of duplicates, even when many bindings share queues.
func TestPropRouteSortedDistinct(t *testing.T) {
	for _, kind := range []Kind{Direct, Fanout, Topic, Headers} {
		t.Run(kind.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				tbl := NewTable(kind)
				for _, b := range rapid.SliceOfN(bindingGen(kind), 0, 30).Draw(t, "bindings") {
					_, _ = tbl.Bind(b) // duplicates and invalid ones are fine here
				}
				got := tbl.Route(topicKeyGen(4).Draw(t, "key"), headersGen.Draw(t, "headers"), nil)
				for i := 1; i < len(got); i++ {
					if got[i-1] >= got[i] {
						t.Fatalf("Route = %q: not sorted and distinct", got)
					}
				}
			})
		})
	}
}
