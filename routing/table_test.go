package routing

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func TestNewTableKinds(t *testing.T) {
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		tbl := NewTable(k)
		if tbl.Kind() != k || tbl.Len() != 0 || len(tbl.Bindings()) != 0 {
			t.Errorf("NewTable(%v): kind %v, len %d", k, tbl.Kind(), tbl.Len())
		}
		if got := tbl.Route("a", map[string]Value{"a": str("a")}, nil); len(got) != 0 {
			t.Errorf("empty %v table routed to %q", k, got)
		}
	}
	defer func() {
		if recover() == nil {
			t.Errorf("NewTable(0) did not panic")
		}
	}()
	NewTable(0)
}

func TestValidateBindingUnknownKind(t *testing.T) {
	if err := ValidateBinding(Kind(9), Binding{}); !errors.Is(err, ErrBadKind) {
		t.Errorf("ValidateBinding(kind 9) = %v; want ErrBadKind", err)
	}
}

// TestBindingIdentity checks that identity is (Queue, Key, Args) with Args
// compared as maps, on every kind.
func TestBindingIdentity(t *testing.T) {
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		tbl := NewTable(k)
		args := map[string]Value{"a": str("1"), "b": i64(2)}
		mustBind(t, tbl, Binding{Queue: "q", Key: "k", Args: args})

		// The same map built in another order is the same binding.
		same := map[string]Value{}
		same["b"] = i64(2)
		same["a"] = str("1")
		if added, err := tbl.Bind(Binding{Queue: "q", Key: "k", Args: same}); added || err != nil {
			t.Errorf("%v: rebinding identical binding = %v, %v; want false, nil", k, added, err)
		}
		// Changing the caller's map afterwards must not affect the table.
		args["a"] = str("changed")
		if added, _ := tbl.Bind(Binding{Queue: "q", Key: "k", Args: same}); added {
			t.Errorf("%v: caller's map mutation leaked into the table", k)
		}

		// Each of these differs in one respect and is a new binding.
		for _, b := range []Binding{
			{Queue: "q2", Key: "k", Args: same},
			{Queue: "q", Key: "k2", Args: same},
			{Queue: "q", Key: "k", Args: map[string]Value{"a": str("1")}},
			{Queue: "q", Key: "k", Args: map[string]Value{"a": str("1"), "b": str("2")}}, // type differs
			{Queue: "q", Key: "k", Args: map[string]Value{"a": str("1"), "b": i64(3)}},
			{Queue: "q", Key: "k", Args: map[string]Value{"a": str("1"), "b": i64(2), "c": present}},
			{Queue: "q", Key: "k"},
		} {
			mustBind(t, tbl, b)
		}
		if tbl.Len() != 8 {
			t.Errorf("%v: Len = %d; want 8", k, tbl.Len())
		}
		// nil and empty Args are the same binding.
		if added, _ := tbl.Bind(Binding{Queue: "q", Key: "k", Args: map[string]Value{}}); added {
			t.Errorf("%v: empty Args is not the same binding as nil Args", k)
		}
		if !tbl.Unbind(Binding{Queue: "q", Key: "k", Args: map[string]Value{}}) {
			t.Errorf("%v: Unbind with empty Args did not remove the nil-Args binding", k)
		}
		if tbl.Unbind(Binding{Queue: "q", Key: "k"}) {
			t.Errorf("%v: second Unbind reported a removal", k)
		}
		if !tbl.Unbind(Binding{Queue: "q", Key: "k", Args: map[string]Value{"b": i64(2), "a": str("1")}}) {
			t.Errorf("%v: Unbind with reordered args did not remove", k)
		}
		if tbl.Unbind(Binding{Queue: "nope", Key: "k"}) {
			t.Errorf("%v: Unbind of an absent binding reported a removal", k)
		}
		if tbl.Len() != 6 {
			t.Errorf("%v: Len = %d; want 6", k, tbl.Len())
		}
	}
}

// TestFloatIdentity pins the one place where identity departs from ==:
// NaN. A binding holding NaN must be removable and must not pile up.
func TestFloatIdentity(t *testing.T) {
	tbl := NewTable(Headers)
	nan := map[string]Value{"f": float(math.NaN())}
	mustBind(t, tbl, Binding{Queue: "q", Args: nan})
	if added, _ := tbl.Bind(Binding{Queue: "q", Args: map[string]Value{"f": float(math.NaN())}}); added {
		t.Errorf("a second NaN binding was added")
	}
	if !tbl.Unbind(Binding{Queue: "q", Args: nan}) || tbl.Len() != 0 {
		t.Errorf("NaN binding could not be removed")
	}
	// -0 == +0, so they are one binding.
	mustBind(t, tbl, Binding{Queue: "q", Args: map[string]Value{"f": float(0)}})
	if added, _ := tbl.Bind(Binding{Queue: "q", Args: map[string]Value{"f": float(math.Copysign(0, -1))}}); added {
		t.Errorf("-0 and +0 made two bindings")
	}
}

func TestBindingsOrderAndCopies(t *testing.T) {
	tbl := NewTable(Topic)
	in := []Binding{
		{Queue: "b", Key: "x"},
		{Queue: "a", Key: "y"},
		{Queue: "a", Key: "x", Args: map[string]Value{"k": str("2")}},
		{Queue: "a", Key: "x", Args: map[string]Value{"k": str("1")}},
		{Queue: "a", Key: "x"},
		{Queue: "c", Key: ""},
	}
	for _, b := range in {
		mustBind(t, tbl, b)
	}
	got := tbl.Bindings()
	want := []Binding{
		{Queue: "a", Key: "x"},
		{Queue: "a", Key: "x", Args: map[string]Value{"k": str("1")}},
		{Queue: "a", Key: "x", Args: map[string]Value{"k": str("2")}},
		{Queue: "a", Key: "y"},
		{Queue: "b", Key: "x"},
		{Queue: "c", Key: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Bindings() = %+v\nwant %+v", got, want)
	}
	// The same set bound in reverse order lists identically.
	rev := NewTable(Topic)
	for _, b := range slices.Backward(in) {
		mustBind(t, rev, b)
	}
	if !reflect.DeepEqual(rev.Bindings(), want) {
		t.Errorf("Bindings() depends on insertion order")
	}
	// Returned maps are copies.
	got[1].Args["k"] = str("mutated")
	if !reflect.DeepEqual(tbl.Bindings(), want) {
		t.Errorf("mutating a returned Args map changed the table")
	}
}

func TestUnbindQueue(t *testing.T) {
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		tbl := NewTable(k)
		for _, b := range []Binding{
			{Queue: "gone", Key: "a"},
			{Queue: "gone", Key: "b"},
			{Queue: "gone", Key: "a", Args: map[string]Value{"h": str("1")}},
			{Queue: "stays", Key: "a"},
		} {
			mustBind(t, tbl, b)
		}
		if n := tbl.UnbindQueue("gone"); n != 3 {
			t.Errorf("%v: UnbindQueue = %d; want 3", k, n)
		}
		if n := tbl.UnbindQueue("gone"); n != 0 {
			t.Errorf("%v: second UnbindQueue = %d; want 0", k, n)
		}
		if n := tbl.UnbindQueue("never-bound"); n != 0 {
			t.Errorf("%v: UnbindQueue of unknown queue = %d; want 0", k, n)
		}
		if !reflect.DeepEqual(tbl.Bindings(), []Binding{{Queue: "stays", Key: "a"}}) {
			t.Errorf("%v: Bindings after UnbindQueue = %+v", k, tbl.Bindings())
		}
		got := tbl.Route("a", map[string]Value{"h": str("1")}, nil)
		if !slices.Equal(got, []string{"stays"}) {
			t.Errorf("%v: Route after UnbindQueue = %q", k, got)
		}
	}
}

// TestRouteConcurrent lets the race detector check that Route writes
// nothing shared: many goroutines route through one table at once.
func TestRouteConcurrent(t *testing.T) {
	tables := map[Kind]*Table{}
	for _, k := range []Kind{Direct, Fanout, Topic, Headers} {
		tbl := NewTable(k)
		for i, key := range []string{"a.b.c", "#.#.c", "#.#", "a.*.#", "*.b.*"} {
			mustBind(t, tbl, Binding{Queue: string(rune('p' + i)), Key: key,
				Args: map[string]Value{"x-match": str("any"), "h": i64(int64(i))}})
		}
		tables[k] = tbl
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst []string
			for range 200 {
				for _, tbl := range tables {
					dst = tbl.Route("a.b.c", map[string]Value{"h": i64(int64(g % 5))}, dst[:0])
					checkSortedDistinct(t, dst)
					if len(dst) == 0 {
						t.Errorf("%v: no route", tbl.Kind())
					}
				}
			}
		}()
	}
	wg.Wait()
}
