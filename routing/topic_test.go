package routing

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestTopicRabbitMQRoutingSuite ports topic1 from RabbitMQ's routing_SUITE
// (and the identical topic_matching1 of the older unit tests): 28
// bindings, twelve routing keys, then the same keys after removing six
// bindings, then nothing after removing the rest.
func TestTopicRabbitMQRoutingSuite(t *testing.T) {
	tbl := NewTable(Topic)
	bindings := []Binding{
		{Key: "a.b.c", Queue: "t1"},
		{Key: "a.*.c", Queue: "t2"},
		{Key: "a.#.b", Queue: "t3"},
		{Key: "a.b.b.c", Queue: "t4"},
		{Key: "#", Queue: "t5"},
		{Key: "#.#", Queue: "t6"},
		{Key: "#.b", Queue: "t7"},
		{Key: "*.*", Queue: "t8"},
		{Key: "a.*", Queue: "t9"},
		{Key: "*.b.c", Queue: "t10"},
		{Key: "a.#", Queue: "t11"},
		{Key: "a.#.#", Queue: "t12"},
		{Key: "b.b.c", Queue: "t13"},
		{Key: "a.b.b", Queue: "t14"},
		{Key: "a.b", Queue: "t15"},
		{Key: "b.c", Queue: "t16"},
		{Key: "", Queue: "t17"},
		{Key: "*.*.*", Queue: "t18"},
		{Key: "vodka.martini", Queue: "t19"},
		{Key: "a.b.c", Queue: "t20"},
		{Key: "*.#", Queue: "t21"},
		{Key: "#.*.#", Queue: "t22"},
		{Key: "*.#.#", Queue: "t23"},
		{Key: "#.#.#", Queue: "t24"},
		{Key: "*", Queue: "t25"},
		{Key: "#.b.#", Queue: "t26"},
		{Key: "args-test", Queue: "t27", Args: map[string]Value{"foo": {Type: ValueString, Str: "bar"}}},
		// Same queue and key, other arguments: a second binding that
		// must not make t27 appear twice.
		{Key: "args-test", Queue: "t27", Args: map[string]Value{"foo": {Type: ValueString, Str: "baz"}}},
	}
	for _, b := range bindings {
		mustBind(t, tbl, b)
	}
	if tbl.Len() != 28 {
		t.Fatalf("Len = %d; want 28", tbl.Len())
	}
	check := func(cases map[string][]string) {
		t.Helper()
		for _, key := range slices.Sorted(maps.Keys(cases)) {
			want := slices.Clone(cases[key])
			slices.Sort(want) // RabbitMQ compares usort'ed lists
			expectRoute(t, tbl, key, nil, want)
		}
	}
	check(map[string][]string{
		"a.b.c":               {"t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23", "t24", "t26"},
		"a.b":                 {"t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23", "t24", "t26"},
		"a.b.b":               {"t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24", "t26"},
		"":                    {"t5", "t6", "t17", "t24"},
		"b.c.c":               {"t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"},
		"a.a.a.a.a":           {"t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"},
		"vodka.gin":           {"t5", "t6", "t8", "t21", "t22", "t23", "t24"},
		"vodka.martini":       {"t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"},
		"b.b.c":               {"t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26"},
		"nothing.here.at.all": {"t5", "t6", "t21", "t22", "t23", "t24"},
		"oneword":             {"t5", "t6", "t21", "t22", "t23", "t24", "t25"},
		"args-test":           {"t5", "t6", "t21", "t22", "t23", "t24", "t25", "t27"},
	})

	// lists:nth(N, Bindings) for N in [1, 5, 11, 19, 21, 28].
	for _, n := range []int{1, 5, 11, 19, 21, 28} {
		if !tbl.Unbind(bindings[n-1]) {
			t.Fatalf("Unbind(%+v) = false", bindings[n-1])
		}
	}
	check(map[string][]string{
		"a.b.c":               {"t2", "t6", "t10", "t12", "t18", "t20", "t22", "t23", "t24", "t26"},
		"a.b":                 {"t3", "t6", "t7", "t8", "t9", "t12", "t15", "t22", "t23", "t24", "t26"},
		"a.b.b":               {"t3", "t6", "t7", "t12", "t14", "t18", "t22", "t23", "t24", "t26"},
		"":                    {"t6", "t17", "t24"},
		"b.c.c":               {"t6", "t18", "t22", "t23", "t24", "t26"},
		"a.a.a.a.a":           {"t6", "t12", "t22", "t23", "t24"},
		"vodka.gin":           {"t6", "t8", "t22", "t23", "t24"},
		"vodka.martini":       {"t6", "t8", "t22", "t23", "t24"},
		"b.b.c":               {"t6", "t10", "t13", "t18", "t22", "t23", "t24", "t26"},
		"nothing.here.at.all": {"t6", "t22", "t23", "t24"},
		"oneword":             {"t6", "t22", "t23", "t24", "t25"},
		"args-test":           {"t6", "t22", "t23", "t24", "t25", "t27"},
	})

	// RabbitMQ deletes the exchange; the equivalent is removing the rest.
	for _, b := range tbl.Bindings() {
		tbl.Unbind(b)
	}
	check(map[string][]string{"a.b.c": nil, "b.b.c": nil, "": nil})
	if r := tbl.router.(*topicRouter); !r.root.idle() {
		t.Errorf("trie not pruned back to an empty root after removing every binding")
	}
}

// TestTopicRabbitMQDBSuite ports the routing cases of RabbitMQ's
// rabbit_db_topic_exchange_SUITE, one subtest per Erlang test case.
func TestTopicRabbitMQDBSuite(t *testing.T) {
	type route struct {
		key  string
		want []string
	}
	deep := "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z"
	tests := []struct {
		name     string
		bindings [][2]string // {key, queue}
		routes   []route
	}{
		{"topic_match_basic",
			[][2]string{{"foo.bar", "q-foo"}, {"foo.baz", "q-bar"}, {"other.key", "q-baz"}},
			[]route{{"foo.bar", []string{"q-foo"}}, {"foo.baz", []string{"q-bar"}},
				{"other.key", []string{"q-baz"}}, {"no.match", nil}}},
		{"topic_match_wildcards",
			[][2]string{{"foo.*", "q-star"}, {"foo.#", "q-hash"}, {"foo.bar", "q-exact"},
				{"foo.*.baz", "q-deep"}, {"#", "q-all"}},
			[]route{{"foo.bar", []string{"q-all", "q-exact", "q-hash", "q-star"}},
				{"foo.bar.baz", []string{"q-all", "q-deep", "q-hash"}},
				{"foo.bar.baz.qux", []string{"q-all", "q-hash"}},
				{"foo.qux", []string{"q-all", "q-hash", "q-star"}},
				{"bar.foo", []string{"q-all"}}}},
		{"topic_match_hash_middle",
			[][2]string{{"#.c", "q-hash-c"}, {"#.b.c", "q-hash-bc"}, {"a.#.d", "q-hash-mid"}, {"#.*.#", "q-hash-star"}},
			[]route{{"a.b.c", []string{"q-hash-bc", "q-hash-c", "q-hash-star"}},
				{"c", []string{"q-hash-c", "q-hash-star"}},
				{"x.y.b.c", []string{"q-hash-bc", "q-hash-c", "q-hash-star"}},
				{"a.d", []string{"q-hash-mid", "q-hash-star"}},
				{"a.b.c.d", []string{"q-hash-mid", "q-hash-star"}},
				{"x", []string{"q-hash-star"}},
				{"x.c", []string{"q-hash-c", "q-hash-star"}}}},
		{"topic_match_empty_routing_key",
			[][2]string{{"#", "q-hash"}, {"foo.bar", "q-exact"}},
			[]route{{"", []string{"q-hash"}}, {"foo.bar", []string{"q-exact", "q-hash"}}}},
		{"topic_match_deep_hierarchy",
			[][2]string{{"#", "q-all"}, {deep + ".#", "q-prefix"}, {deep + ".*", "q-prefix-star"}},
			[]route{{deep, []string{"q-all", "q-prefix"}},
				{deep + ".1", []string{"q-all", "q-prefix", "q-prefix-star"}}}},
		{"topic_match_all_wildcards",
			[][2]string{{strings.Repeat("*.", 26) + "#", "q-wild"}},
			[]route{{deep, []string{"q-wild"}}}},
		{"topic_match_alternating_wildcards",
			[][2]string{{"a.*.c.*.e.*.g.*.i.*.k.*.m.*.o.*.q.*.s.*.u.*.w.*.y.*.#", "q-alt"}},
			[]route{{deep, []string{"q-alt"}}}},
		{"topic_match_many_hashes", // C(46, 15) paths without memoization
			[][2]string{{strings.Repeat("#.", 14) + "#", "q-many-hashes"}},
			[]route{{strings.Repeat("a.", 30) + "a", []string{"q-many-hashes"}}}},
		{"topic_match_overlapping_filters",
			[][2]string{{"a.b", "q1"}, {"a.b.#", "q2"}, {"a.b.c", "q3"}, {"a.b.*", "q4"},
				{"a.b.d", "q5"}, {"a.*.*", "q6"}, {"a.*.#", "q7"}, {"*.b.c", "q8"}},
			[]route{{"a.b.c", []string{"q2", "q3", "q4", "q6", "q7", "q8"}},
				{"a.b", []string{"q1", "q2", "q7"}}}},
		{"topic_match_empty_segments",
			[][2]string{{".#", "q-hash"}, {".*", "q-star"}, {".*.a.b.c", "q-deep"}},
			[]route{{".0.a.b.c", []string{"q-deep", "q-hash"}}}},
		{"topic_match_unicode",
			[][2]string{{"传感器.温度.摄氏", "q-cjk"}, {"🏠.🌡️.📊", "q-emoji"},
				{"датчик.температура.цельсий", "q-cyrillic"}, {"sensor.données.état", "q-mixed"},
				{"传感器.*.摄氏", "q-wild"}, {"датчик.#", "q-hash"}, {"#", "q-all"}},
			[]route{{"传感器.温度.摄氏", []string{"q-all", "q-cjk", "q-wild"}},
				{"🏠.🌡️.📊", []string{"q-all", "q-emoji"}},
				{"датчик.температура.цельсий", []string{"q-all", "q-cyrillic", "q-hash"}},
				{"sensor.données.état", []string{"q-all", "q-mixed"}},
				{"传感器.压力.摄氏", []string{"q-all", "q-wild"}},
				{"датчик.давление", []string{"q-all", "q-hash"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := NewTable(Topic)
			for _, kq := range tc.bindings {
				mustBind(t, tbl, Binding{Key: kq[0], Queue: kq[1]})
			}
			for _, r := range tc.routes {
				expectRoute(t, tbl, r.key, nil, r.want)
			}
		})
	}

	t.Run("topic_match_large_fanout", func(t *testing.T) {
		tbl := NewTable(Topic)
		var want []string
		for i := 1; i <= 500; i++ {
			q := fmt.Sprintf("q-fan-%d", i)
			mustBind(t, tbl, Binding{Key: "events.user.login", Queue: q})
			want = append(want, q)
		}
		slices.Sort(want)
		expectRoute(t, tbl, "events.user.login", nil, want)
	})
}

// TestTopicPatterns checks single patterns against single keys, covering
// each wildcard rule and the empty-word edge cases.
func TestTopicPatterns(t *testing.T) {
	tests := []struct {
		pattern, key string
		match        bool
	}{
		// The empty key has no words: only "", "#" and "#"-only patterns
		// match it, "*" needs a word.
		{"", "", true},
		{"", "a", false},
		{"", ".", false},
		{"#", "", true},
		{"#.#", "", true},
		{"*", "", false},
		{"*.#", "", false},
		{"#.*", "", false},
		{"a", "", false},
		// Empty words are real words.
		{"*", ".", false}, // "." is two empty words
		{"*.*", ".", true},
		{".", ".", true},
		{"a..b", "a..b", true},
		{"a.*.b", "a..b", true},
		{"a.b", "a..b", false},
		{"a.#.b", "a..b", true},
		{"a.", "a.", true},
		{"a.", "a", false},
		{"a.*", "a.", true},
		{"a.#", "a.", true},
		{"*", "a.", false},
		{".a", ".a", true},
		{"*.a", ".a", true},
		{"#.a", ".a", true},
		// "#" alone and repeated.
		{"#", "a", true},
		{"#", "a.b.c", true},
		{"#.#", "a.b.c", true},
		{"#.#.#", "a", true},
		// "a.#" matches a and anything below it.
		{"a.#", "a", true},
		{"a.#", "a.b", true},
		{"a.#", "a.b.c", true},
		{"a.#", "b", false},
		{"a.#", "b.a", false},
		// "#.a" matches a and anything ending in it.
		{"#.a", "a", true},
		{"#.a", "x.a", true},
		{"#.a", "x.y.a", true},
		{"#.a", "a.x", false},
		// "#" in the middle.
		{"a.#.b", "a.b", true},
		{"a.#.b", "a.x.b", true},
		{"a.#.b", "a.x.y.b", true},
		{"a.#.b", "a.b.b", true},
		{"a.#.b", "a.b.x", false},
		{"a.#.b", "a", false},
		// "*" is exactly one word.
		{"a.*", "a", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"*.*", "a", false},
		{"*.*", "a.b", true},
		{"*.*", "a.b.c", false},
		{"*", "a", true},
		// "*" and "#" together.
		{"a.*.#", "a", false},
		{"a.*.#", "a.b", true},
		{"a.*.#", "a.b.c.d", true},
		{"#.*", "a", true},
		{"#.*.#", "a", true},
		{"*.#.*", "a", false},
		{"*.#.*", "a.b", true},
		{"*.#.*", "a.b.c", true},
		// Wildcard characters count only as whole words.
		{"a*", "ab", false},
		{"a*", "a*", true},
		{"a#", "a.b", false},
		{"##", "a", false},
		{"##", "##", true},
		// A routing key's "*" or "#" is a plain word.
		{"*", "#", true},
		{"a", "*", false},
		{"#", "*.#", true},
		// Bytes, not characters: case and Unicode form are significant.
		{"A", "a", false},
		{"é", "e\u0301", false},
	}
	for _, tc := range tests {
		if got := refTopicMatch(tc.pattern, tc.key); got != tc.match {
			t.Errorf("reference: %q vs %q = %v; want %v", tc.pattern, tc.key, got, tc.match)
		}
		tbl := NewTable(Topic)
		mustBind(t, tbl, Binding{Key: tc.pattern, Queue: "q"})
		var want []string
		if tc.match {
			want = []string{"q"}
		}
		expectRoute(t, tbl, tc.key, nil, want)
	}
}

// TestTopicManyHashesStaysPolynomial would not finish without the
// (node, position) memo: each pattern admits exponentially many ways to
// split the key among its "#" words, and the keys that do not end in "x"
// force the walk to try them all.
func TestTopicManyHashesStaysPolynomial(t *testing.T) {
	tbl := NewTable(Topic)
	mustBind(t, tbl, Binding{Key: strings.Repeat("#.", 20) + "x", Queue: "hashes-x"})
	mustBind(t, tbl, Binding{Key: strings.Repeat("#.*.", 10) + "#.x", Queue: "mixed-x"})
	mustBind(t, tbl, Binding{Key: strings.Repeat("#.a.", 10) + "#", Queue: "hashes-a"})
	long := strings.Repeat("a.", 200)
	expectRoute(t, tbl, long+"y", nil, []string{"hashes-a"})
	expectRoute(t, tbl, long+"x", nil, []string{"hashes-a", "hashes-x", "mixed-x"})
	expectRoute(t, tbl, strings.Repeat("b.", 200)+"x", nil, []string{"hashes-x", "mixed-x"})
}

// TestTopicSharedPrefixesAndPruning checks that unbinding one pattern
// leaves patterns that share its trie nodes intact, and that the trie
// shrinks back to nothing.
func TestTopicSharedPrefixesAndPruning(t *testing.T) {
	tbl := NewTable(Topic)
	bs := []Binding{
		{Key: "a.b.c", Queue: "q1"},
		{Key: "a.b", Queue: "q2"},
		{Key: "a.b.#", Queue: "q3"},
		{Key: "a.*.c", Queue: "q4"},
		{Key: "a.b.c", Queue: "q5"},
	}
	for _, b := range bs {
		mustBind(t, tbl, b)
	}
	expectRoute(t, tbl, "a.b.c", nil, []string{"q1", "q3", "q4", "q5"})
	tbl.Unbind(bs[0])
	expectRoute(t, tbl, "a.b.c", nil, []string{"q3", "q4", "q5"})
	tbl.Unbind(bs[1])
	expectRoute(t, tbl, "a.b", nil, []string{"q3"})
	tbl.Unbind(bs[4])
	expectRoute(t, tbl, "a.b.c", nil, []string{"q3", "q4"})
	tbl.Unbind(bs[2])
	expectRoute(t, tbl, "a.b.c", nil, []string{"q4"})
	r := tbl.router.(*topicRouter)
	if r.root.literal["a"].literal["b"] != nil {
		t.Errorf("node a.b kept after its last pattern went")
	}
	tbl.Unbind(bs[3])
	if !r.root.idle() {
		t.Errorf("trie not empty after removing every binding")
	}
}
