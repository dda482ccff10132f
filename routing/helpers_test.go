package routing

import (
	"slices"
	"testing"
)

func mustBind(t testing.TB, tbl *Table, b Binding) {
	t.Helper()
	added, err := tbl.Bind(b)
	if err != nil || !added {
		t.Fatalf("Bind(%+v) = %v, %v; want true, nil", b, added, err)
	}
}

// expectRoute checks Route's result and, by routing again behind a
// non-empty dst, that Route appends without touching what dst held.
func expectRoute(t testing.TB, tbl *Table, routingKey string, headers map[string]Value, want []string) {
	t.Helper()
	got := tbl.Route(routingKey, headers, nil)
	if !slices.Equal(got, want) {
		t.Errorf("Route(%q, %v) = %q; want %q", routingKey, headers, got, want)
	}
	prefix := []string{"~z", "~a"}
	got = tbl.Route(routingKey, headers, slices.Clone(prefix))
	if !slices.Equal(got[:2], prefix) || !slices.Equal(got[2:], want) {
		t.Errorf("Route(%q, %v) behind %q = %q; want %q", routingKey, headers, prefix, got, append(prefix, want...))
	}
}

// checkSortedDistinct reports an error unless s is strictly increasing.
func checkSortedDistinct(t testing.TB, s []string) {
	t.Helper()
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			t.Errorf("route result %q is not sorted and distinct", s)
			return
		}
	}
}
