package routing

import (
	"errors"
	"math"
	"testing"
)

func str(s string) Value      { return Value{Type: ValueString, Str: s} }
func i64(n int64) Value       { return Value{Type: ValueInt, Int: n} }
func boolean(b bool) Value    { return Value{Type: ValueBool, Bool: b} }
func float(f float64) Value   { return Value{Type: ValueFloat, Float: f} }
func bytesVal(s string) Value { return Value{Type: ValueBytes, Str: s} }

var present = Value{} // ValueNone: matches on presence alone

// TestHeadersRabbitMQExchangesSuite ports headers_exchange and
// headers_exchange_key_presence_only from RabbitMQ's exchanges_SUITE.
func TestHeadersRabbitMQExchangesSuite(t *testing.T) {
	t.Run("headers_exchange", func(t *testing.T) {
		tbl := NewTable(Headers)
		mustBind(t, tbl, Binding{Queue: "q", Args: map[string]Value{
			"x-match": str("all"), "foo": str("bar"), "fuu": str("ber")}})
		mustBind(t, tbl, Binding{Queue: "alt", Args: map[string]Value{
			"x-match": str("any"), "foo": str("bar"), "fuu": str("ber")}})
		expectRoute(t, tbl, "", map[string]Value{"foo": str("bar"), "fuu": str("ber")}, []string{"alt", "q"})
		expectRoute(t, tbl, "", map[string]Value{"foo": str("bar")}, []string{"alt"})
		expectRoute(t, tbl, "", nil, nil)
	})
	t.Run("headers_exchange_key_presence_only", func(t *testing.T) {
		tbl := NewTable(Headers)
		mustBind(t, tbl, Binding{Queue: "all", Args: map[string]Value{
			"x-match": str("all-with-x"), "foo": present, "x-foo": present}})
		mustBind(t, tbl, Binding{Queue: "any", Args: map[string]Value{
			"x-match": str("any-with-x"), "foo": present, "x-foo": present}})
		expectRoute(t, tbl, "", map[string]Value{"foo": str("anything"), "x-foo": i64(42)}, []string{"all", "any"})
		expectRoute(t, tbl, "", map[string]Value{"foo": str("whatever")}, []string{"any"})
		expectRoute(t, tbl, "", map[string]Value{"x-foo": str("something")}, []string{"any"})
		expectRoute(t, tbl, "", map[string]Value{"other": str("value")}, nil)
		expectRoute(t, tbl, "", nil, nil)
	})
}

// TestHeadersRabbitMQAMQP10Suites ports the headers-exchange routing of
// RabbitMQ's amqp_client_SUITE and amqp_address_SUITE.
func TestHeadersRabbitMQAMQP10Suites(t *testing.T) {
	tbl := NewTable(Headers)
	mustBind(t, tbl, Binding{Queue: "apple", Args: map[string]Value{
		"x-fruit": str("apple"), "x-match": str("any-with-x")}})
	mustBind(t, tbl, Binding{Queue: "banana", Args: map[string]Value{
		"x-fruit": str("banana"), "x-match": str("any-with-x")}})
	mustBind(t, tbl, Binding{Queue: "q2", Args: map[string]Value{
		"my key": i64(5), "x-my key": i64(6), "x-match": str("all-with-x")}})
	mustBind(t, tbl, Binding{Queue: "bool", Args: map[string]Value{
		"my key": boolean(true), "x-match": str("any")}})
	expectRoute(t, tbl, "", map[string]Value{"x-fruit": str("apple")}, []string{"apple"})
	expectRoute(t, tbl, "", map[string]Value{"x-fruit": str("banana")}, []string{"banana"})
	expectRoute(t, tbl, "", map[string]Value{"x-fruit": str("cherry")}, nil)
	expectRoute(t, tbl, "", map[string]Value{"my key": i64(5), "x-my key": i64(6)}, []string{"q2"})
	expectRoute(t, tbl, "", map[string]Value{"my key": i64(5)}, nil)
	expectRoute(t, tbl, "", map[string]Value{"my key": boolean(true)}, []string{"bool"})
	expectRoute(t, tbl, "", map[string]Value{"my key": boolean(false)}, nil)
}

// TestHeadersMatching covers each x-match mode on one binding at a time.
func TestHeadersMatching(t *testing.T) {
	type msg = map[string]Value
	tests := []struct {
		name    string
		args    map[string]Value
		headers msg
		match   bool
	}{
		// x-match absent means all.
		{"default all, all present", map[string]Value{"a": str("1"), "b": i64(2)}, msg{"a": str("1"), "b": i64(2), "c": str("extra")}, true},
		{"default all, one missing", map[string]Value{"a": str("1"), "b": i64(2)}, msg{"a": str("1")}, false},
		{"default all, one differs", map[string]Value{"a": str("1"), "b": i64(2)}, msg{"a": str("1"), "b": i64(3)}, false},
		{"all, all present", map[string]Value{"x-match": str("all"), "a": str("1")}, msg{"a": str("1")}, true},
		{"any, one matches", map[string]Value{"x-match": str("any"), "a": str("1"), "b": str("2")}, msg{"b": str("2")}, true},
		{"any, none match", map[string]Value{"x-match": str("any"), "a": str("1"), "b": str("2")}, msg{"a": str("2"), "b": str("1")}, false},

		// Types are part of equality.
		{"int 1 vs string 1", map[string]Value{"a": i64(1)}, msg{"a": str("1")}, false},
		{"string 1 vs int 1", map[string]Value{"a": str("1")}, msg{"a": i64(1)}, false},
		{"bytes vs string", map[string]Value{"a": bytesVal("x")}, msg{"a": str("x")}, false},
		{"bytes vs bytes", map[string]Value{"a": bytesVal("x")}, msg{"a": bytesVal("x")}, true},
		{"bool vs int", map[string]Value{"a": boolean(true)}, msg{"a": i64(1)}, false},
		{"float vs int", map[string]Value{"a": float(1)}, msg{"a": i64(1)}, false},
		{"float equal", map[string]Value{"a": float(1.5)}, msg{"a": float(1.5)}, true},
		{"float -0 equals +0", map[string]Value{"a": float(math.Copysign(0, -1))}, msg{"a": float(0)}, true},
		{"float NaN never equal", map[string]Value{"a": float(math.NaN())}, msg{"a": float(math.NaN())}, false},
		{"any with type mismatch only", map[string]Value{"x-match": str("any"), "a": i64(1)}, msg{"a": str("1")}, false},

		// Value-less arguments ask for presence only.
		{"presence, present", map[string]Value{"a": present}, msg{"a": i64(7)}, true},
		{"presence, present as none", map[string]Value{"a": present}, msg{"a": present}, true},
		{"presence, absent", map[string]Value{"a": present}, msg{"b": i64(7)}, false},
		{"presence and value, all", map[string]Value{"a": present, "b": str("v")}, msg{"a": str("?"), "b": str("v")}, true},
		{"presence and value, all, value differs", map[string]Value{"a": present, "b": str("v")}, msg{"a": str("?"), "b": str("w")}, false},
		{"presence, any", map[string]Value{"x-match": str("any"), "a": present, "b": str("v")}, msg{"a": boolean(false)}, true},
		{"value none in header does not equal a string", map[string]Value{"a": str("")}, msg{"a": present}, false},

		// Without -with-x, x-* arguments are ignored.
		{"all ignores x- args", map[string]Value{"x-match": str("all"), "a": str("1"), "x-b": str("2")}, msg{"a": str("1")}, true},
		{"any ignores x- args", map[string]Value{"x-match": str("any"), "a": str("1"), "x-b": str("2")}, msg{"x-b": str("2")}, false},
		{"all with only x- args matches everything", map[string]Value{"x-b": str("2")}, msg{}, true},
		{"any with only x- args matches nothing", map[string]Value{"x-match": str("any"), "x-b": str("2")}, msg{"x-b": str("2")}, false},
		{"X- prefix is case-sensitive", map[string]Value{"X-b": str("2")}, msg{}, false},

		// With -with-x, x-* arguments count, but x-match itself never does.
		{"all-with-x needs x- args", map[string]Value{"x-match": str("all-with-x"), "a": str("1"), "x-b": str("2")}, msg{"a": str("1")}, false},
		{"all-with-x, all present", map[string]Value{"x-match": str("all-with-x"), "a": str("1"), "x-b": str("2")}, msg{"a": str("1"), "x-b": str("2")}, true},
		{"any-with-x, x- arg matches", map[string]Value{"x-match": str("any-with-x"), "a": str("1"), "x-b": str("2")}, msg{"x-b": str("2")}, true},
		{"all-with-x does not require x-match header", map[string]Value{"x-match": str("all-with-x")}, msg{}, true},
		{"any-with-x does not match x-match header", map[string]Value{"x-match": str("any-with-x")}, msg{"x-match": str("any-with-x")}, false},

		// No counted arguments: all matches every message, any none.
		{"all, no args, no headers", nil, nil, true},
		{"all, no args, some headers", map[string]Value{"x-match": str("all")}, msg{"a": str("1")}, true},
		{"any, no args", map[string]Value{"x-match": str("any")}, msg{"a": str("1")}, false},
		{"any-with-x, no args", map[string]Value{"x-match": str("any-with-x")}, msg{"a": str("1")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := refHeadersMatch(tc.args, tc.headers); got != tc.match {
				t.Errorf("reference = %v; want %v", got, tc.match)
			}
			tbl := NewTable(Headers)
			mustBind(t, tbl, Binding{Queue: "q", Key: "ignored", Args: tc.args})
			var want []string
			if tc.match {
				want = []string{"q"}
			}
			expectRoute(t, tbl, "any routing key", tc.headers, want)
			expectRoute(t, tbl, "", tc.headers, want)
		})
	}
}

func TestHeadersInvalidXMatch(t *testing.T) {
	bad := []Value{
		str("bogus"),
		str("ALL"),
		str(""),
		str("all "),
		i64(1),
		bytesVal("all"), // RabbitMQ demands a longstr, not binary
		boolean(true),
		present,
	}
	for _, v := range bad {
		tbl := NewTable(Headers)
		added, err := tbl.Bind(Binding{Queue: "q", Args: map[string]Value{"x-match": v, "a": str("1")}})
		if added || !errors.Is(err, ErrBadBinding) {
			t.Errorf("Bind with x-match %+v = %v, %v; want false, ErrBadBinding", v, added, err)
		}
		if tbl.Len() != 0 {
			t.Errorf("rejected binding was stored")
		}
		if err := ValidateBinding(Headers, Binding{Args: map[string]Value{"x-match": v}}); !errors.Is(err, ErrBadBinding) {
			t.Errorf("ValidateBinding with x-match %+v = %v; want ErrBadBinding", v, err)
		}
		// Other kinds do not interpret x-match, as in RabbitMQ.
		for _, k := range []Kind{Direct, Fanout, Topic} {
			if _, err := NewTable(k).Bind(Binding{Queue: "q", Args: map[string]Value{"x-match": v}}); err != nil {
				t.Errorf("%v Bind with x-match %+v: %v", k, v, err)
			}
		}
	}
	for _, s := range []string{"all", "any", "all-with-x", "any-with-x"} {
		if err := ValidateBinding(Headers, Binding{Args: map[string]Value{"x-match": str(s)}}); err != nil {
			t.Errorf("x-match %q rejected: %v", s, err)
		}
	}
}

// TestHeadersIndex exercises the index: several bindings per header, a
// binding reached through more than one header, a queue reached through
// several bindings, never-matching bindings, and removal from every slot.
func TestHeadersIndex(t *testing.T) {
	tbl := NewTable(Headers)
	bs := []Binding{
		{Queue: "q1", Args: map[string]Value{"x-match": str("any"), "a": str("1"), "b": str("2")}},
		{Queue: "q1", Args: map[string]Value{"a": str("1")}},
		{Queue: "q2", Args: map[string]Value{"a": str("1"), "b": str("2")}},
		{Queue: "q3", Args: map[string]Value{"b": present}},
		{Queue: "q4", Args: nil},
		{Queue: "q5", Args: map[string]Value{"x-match": str("any")}},
		{Queue: "q6", Args: map[string]Value{"a": str("1"), "n": float(math.NaN())}},
		{Queue: "q7", Args: map[string]Value{"x-match": str("any"), "n": float(math.NaN()), "c": present}},
		{Queue: "q8", Args: map[string]Value{"a": present, "b": present}},
	}
	for _, b := range bs {
		mustBind(t, tbl, b)
	}
	h := map[string]Value{"a": str("1"), "b": str("2")}
	expectRoute(t, tbl, "", h, []string{"q1", "q2", "q3", "q4", "q8"})
	expectRoute(t, tbl, "", map[string]Value{"a": str("1"), "n": float(math.NaN()), "c": i64(0)}, []string{"q1", "q4", "q7"})
	// Headers that no binding mentions change nothing.
	many := map[string]Value{"a": str("1"), "b": str("2"), "c": str(""), "d": str(""), "e": str("")}
	expectRoute(t, tbl, "", many, []string{"q1", "q2", "q3", "q4", "q7", "q8"})
	expectRoute(t, tbl, "", map[string]Value{"a": str("1")}, []string{"q1", "q4"})
	tbl.Unbind(bs[0])
	expectRoute(t, tbl, "", map[string]Value{"b": str("2")}, []string{"q3", "q4"})
	expectRoute(t, tbl, "", map[string]Value{"a": str("1")}, []string{"q1", "q4"})
	if n := tbl.UnbindQueue("q1"); n != 1 {
		t.Errorf("UnbindQueue(q1) = %d; want 1", n)
	}
	expectRoute(t, tbl, "", h, []string{"q2", "q3", "q4", "q8"})
	for _, b := range tbl.Bindings() {
		tbl.Unbind(b)
	}
	r := tbl.router.(*headersRouter)
	if len(r.byName) != 0 || len(r.byValue) != 0 || len(r.bindings) != 0 || !r.always.empty() {
		t.Errorf("headers index not empty after removing every binding: %+v", r)
	}
}
