package routing

import "testing"

func TestFanout(t *testing.T) {
	tbl := NewTable(Fanout)
	expectRoute(t, tbl, "k", nil, nil)
	for _, b := range []Binding{
		{Queue: "q2", Key: "ignored"},
		{Queue: "q1"},
		{Queue: "q3", Args: map[string]Value{"x-match": str("any"), "a": str("1")}},
		// The key is part of the identity, so this is a second binding
		// of q1; q1 must still be routed to once.
		{Queue: "q1", Key: "other"},
	} {
		mustBind(t, tbl, b)
	}
	want := []string{"q1", "q2", "q3"}
	expectRoute(t, tbl, "", nil, want)
	expectRoute(t, tbl, "anything.at.all", map[string]Value{"a": str("2")}, want)
	tbl.Unbind(Binding{Queue: "q1"})
	expectRoute(t, tbl, "", nil, want)
	tbl.Unbind(Binding{Queue: "q1", Key: "other"})
	expectRoute(t, tbl, "", nil, []string{"q2", "q3"})
}
