package routing

import "testing"

func TestDirect(t *testing.T) {
	tbl := NewTable(Direct)
	for _, b := range []Binding{
		{Queue: "q-a", Key: "a"},
		{Queue: "q-a2", Key: "a"},
		{Queue: "q-empty", Key: ""},
		{Queue: "q-dots", Key: "a.b"},
		{Queue: "q-star", Key: "*"},
		{Queue: "q-hash", Key: "#"},
		{Queue: "q-upper", Key: "A"},
		// Same queue and key, different arguments: two bindings,
		// one destination.
		{Queue: "q-a", Key: "a", Args: map[string]Value{"x": str("1")}},
	} {
		mustBind(t, tbl, b)
	}
	expectRoute(t, tbl, "a", nil, []string{"q-a", "q-a2"})
	expectRoute(t, tbl, "A", nil, []string{"q-upper"})
	expectRoute(t, tbl, "", nil, []string{"q-empty"})
	expectRoute(t, tbl, "a.b", nil, []string{"q-dots"})
	expectRoute(t, tbl, "a.c", nil, nil)
	expectRoute(t, tbl, "a ", nil, nil)
	// Wildcards mean nothing to a direct exchange.
	expectRoute(t, tbl, "*", nil, []string{"q-star"})
	expectRoute(t, tbl, "#", nil, []string{"q-hash"})
	expectRoute(t, tbl, "b", nil, nil)
	// Headers are ignored.
	expectRoute(t, tbl, "a", map[string]Value{"a": str("a")}, []string{"q-a", "q-a2"})

	// q-a stays routable until its last binding on "a" goes.
	tbl.Unbind(Binding{Queue: "q-a", Key: "a"})
	expectRoute(t, tbl, "a", nil, []string{"q-a", "q-a2"})
	tbl.Unbind(Binding{Queue: "q-a", Key: "a", Args: map[string]Value{"x": str("1")}})
	expectRoute(t, tbl, "a", nil, []string{"q-a2"})
	tbl.Unbind(Binding{Queue: "q-a2", Key: "a"})
	expectRoute(t, tbl, "a", nil, nil)
	if _, ok := tbl.router.(*directRouter).keys["a"]; ok {
		t.Errorf("empty key slot kept after its last binding went")
	}
}
