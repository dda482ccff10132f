package routing

import (
	"maps"
	"slices"
	"strings"
)

// This file holds deliberately naive matchers that restate RabbitMQ's rules
// directly, with no index or trie, for the property and fuzz tests to
// compare the real tables against.

// refSplit is RabbitMQ's split_topic_key_binary: the empty key has no
// words; otherwise split on every dot, keeping empty words.
func refSplit(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// refTopicMatch ports ref_match from RabbitMQ's
// rabbit_db_topic_exchange_SUITE, memoized only so that fuzz inputs with
// many "#" stay fast.
func refTopicMatch(pattern, routingKey string) bool {
	p, k := refSplit(pattern), refSplit(routingKey)
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if r, ok := memo[[2]int{i, j}]; ok {
			return r
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(k)
		case p[i] == "#":
			// "#" matches no word here, or swallows one and stays.
			r = match(i+1, j) || (j < len(k) && match(i, j+1))
		case j == len(k):
			r = false
		case p[i] == "*":
			r = match(i+1, j+1)
		default:
			r = p[i] == k[j] && match(i+1, j+1)
		}
		memo[[2]int{i, j}] = r
		return r
	}
	return match(0, 0)
}

// refValidHeaders restates RabbitMQ's validate_binding for headers.
func refValidHeaders(args map[string]Value) bool {
	v, ok := args["x-match"]
	if !ok {
		return true
	}
	return v.Type == ValueString &&
		(v.Str == "all" || v.Str == "any" || v.Str == "all-with-x" || v.Str == "any-with-x")
}

// refHeadersMatch restates RabbitMQ's rabbit_exchange_type_headers:route.
func refHeadersMatch(args, headers map[string]Value) bool {
	mode := "all"
	if v, ok := args["x-match"]; ok {
		mode = v.Str
	}
	withX := mode == "all-with-x" || mode == "any-with-x"
	anyMode := mode == "any" || mode == "any-with-x"
	considered, matched := 0, 0
	for k, v := range args {
		if k == "x-match" || (!withX && strings.HasPrefix(k, "x-")) {
			continue
		}
		considered++
		if h, ok := headers[k]; ok && (v.Type == ValueNone || h == v) {
			matched++
		}
	}
	if anyMode {
		return matched > 0
	}
	return matched == considered
}

// refMatches reports whether one binding of the given kind takes the
// message.
func refMatches(kind Kind, b Binding, routingKey string, headers map[string]Value) bool {
	switch kind {
	case Direct:
		return b.Key == routingKey
	case Fanout:
		return true
	case Topic:
		return refTopicMatch(b.Key, routingKey)
	case Headers:
		return refHeadersMatch(b.Args, headers)
	}
	panic("unknown kind")
}

// refRoute tries every binding in turn and returns the sorted, distinct
// queues that take the message.
func refRoute(kind Kind, bindings []Binding, routingKey string, headers map[string]Value) []string {
	set := map[string]bool{}
	for _, b := range bindings {
		if refMatches(kind, b, routingKey, headers) {
			set[b.Queue] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// refSameBinding is binding identity spelled out: same queue, same key,
// same argument map under ==.
func refSameBinding(a, b Binding) bool {
	return a.Queue == b.Queue && a.Key == b.Key && maps.Equal(a.Args, b.Args)
}
