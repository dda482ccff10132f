package routing

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// FuzzTopicRoute binds newline-separated patterns and routes key through
// them, before and after unbinding half of them and then all. The table
// must agree with the reference matcher and never panic; the trie must
// end empty.
func FuzzTopicRoute(f *testing.F) {
	f.Add("a.*.#\n#.b\n*.*", "a.b")
	f.Add("#.#.#.#.x\n#.*.#\nx", "a.a.a.a.a.a.a.a.x")
	f.Add("\n*\n#\n#.#", "")
	f.Add("a..b\n.\n*.*\na.*.b", "a..b")
	f.Add("a.#.b\n*.#.*\n.#\n.*.a", ".")
	f.Add("héllo.*\n#.wörld", "héllo.wörld")
	f.Add(strings.Repeat("#.", 200), "too.long") // covers the size cut-off
	f.Fuzz(func(t *testing.T, patterns, key string) {
		// Long inputs add no coverage, but the fuzzer's minimizer is
		// quadratic in input size and stalls on them.
		if len(patterns) > 256 || len(key) > 128 {
			return
		}
		tbl := NewTable(Topic)
		var live []Binding
		for i, p := range strings.Split(patterns, "\n") {
			b := Binding{Queue: fmt.Sprintf("q%d", i%4), Key: p}
			added, err := tbl.Bind(b)
			if err != nil {
				t.Fatalf("Bind(%+v): %v", b, err)
			}
			if added {
				live = append(live, b)
			}
		}
		check := func(stage string) {
			t.Helper()
			got := tbl.Route(key, nil, nil)
			if want := refRoute(Topic, live, key, nil); !slices.Equal(got, want) {
				t.Fatalf("%s: Route(%q) = %q; reference %q (bindings %+v)", stage, key, got, want, live)
			}
		}
		check("all bound")
		var kept []Binding
		for i, b := range live {
			if i%2 == 0 {
				if !tbl.Unbind(b) {
					t.Fatalf("Unbind(%+v) = false", b)
				}
			} else {
				kept = append(kept, b)
			}
		}
		live = kept
		check("half unbound")
		for _, b := range live {
			tbl.Unbind(b)
		}
		live = nil
		check("all unbound")
		if r := tbl.router.(*topicRouter); !r.root.idle() || tbl.Len() != 0 {
			t.Fatalf("table not empty after unbinding everything")
		}
	})
}

// fuzzNames are the argument and header names FuzzHeadersMatch draws from:
// few, so that arguments and headers meet often, with x- names and
// x-match itself among them.
var fuzzNames = []string{"a", "b", "c", "x-a", "x-b", "x-match"}

// fuzzValue turns two bytes into a Value from a small set, so that equal
// and unequal values, of equal and unequal types, all occur.
func fuzzValue(typ, val byte) Value {
	switch typ % 6 {
	case 1:
		return str(string(rune('0' + val%3)))
	case 2:
		return i64(int64(val % 3))
	case 3:
		return boolean(val%2 == 1)
	case 4:
		switch val {
		case 255:
			return float(math.NaN())
		case 254:
			return float(math.Copysign(0, -1))
		}
		return float(float64(val % 3))
	case 5:
		return bytesVal(string(rune('0' + val%3)))
	}
	return present
}

// fuzzValues decodes data as (name, type, value) byte triples.
func fuzzValues(data []byte) map[string]Value {
	m := map[string]Value{}
	for i := 0; i+2 < len(data); i += 3 {
		m[fuzzNames[int(data[i])%len(fuzzNames)]] = fuzzValue(data[i+1], data[i+2])
	}
	return m
}

// oppositeXMatch swaps all and any, keeping -with-x; "" is x-match absent.
var oppositeXMatch = map[string]string{
	"":           "any",
	"all":        "any",
	"any":        "all",
	"all-with-x": "any-with-x",
	"any-with-x": "all-with-x",
}

// FuzzHeadersMatch builds a headers binding from the input, with x-match
// set from xm as a string, bytes or an int (or left as the argument bytes
// say), plus a twin with the opposite x-match, and routes the decoded
// headers. Bind must refuse exactly what RabbitMQ refuses, and Route must
// agree with the reference matcher.
func FuzzHeadersMatch(f *testing.F) {
	f.Add("any", uint8(1), []byte("\x00\x01\x01\x01\x02\x02"), []byte("\x00\x01\x01"))
	f.Add("all-with-x", uint8(1), []byte("\x03\x00\x00\x04\x01\x00"), []byte("\x03\x01\x02"))
	f.Add("any-with-x", uint8(1), []byte("\x03\x00\x00\x05\x01\x01"), []byte("\x05\x01\x01"))
	f.Add("bogus", uint8(1), []byte{}, []byte{})
	f.Add("all", uint8(2), []byte("\x00\x01\x01"), []byte("\x00\x01\x01"))
	f.Add("", uint8(0), []byte("\x00\x02\x01"), []byte("\x00\x01\x01"))
	f.Add("all", uint8(1), []byte("\x00\x04\xff"), []byte("\x00\x04\xff"))
	f.Add(strings.Repeat("x", 40), uint8(1), []byte{}, []byte{}) // covers the size cut-off
	f.Fuzz(func(t *testing.T, xm string, xmType uint8, argBytes, headerBytes []byte) {
		// Six names hold at most six entries, 18 bytes; longer inputs only
		// slow the fuzzer's quadratic minimizer down.
		if len(xm) > 32 || len(argBytes) > 48 || len(headerBytes) > 48 {
			return
		}
		args := fuzzValues(argBytes)
		switch xmType % 4 {
		case 1:
			args["x-match"] = str(xm)
		case 2:
			args["x-match"] = bytesVal(xm)
		case 3:
			args["x-match"] = i64(int64(len(xm)))
		}
		headers := fuzzValues(headerBytes)

		tbl := NewTable(Headers)
		var live []Binding
		b := Binding{Queue: "q", Args: args}
		_, err := tbl.Bind(b)
		if valid := refValidHeaders(args); valid != (err == nil) {
			t.Fatalf("Bind(%v) error %v; RabbitMQ valid=%v", args, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrBadBinding) {
				t.Fatalf("Bind error %v does not wrap ErrBadBinding", err)
			}
		} else {
			live = append(live, b)
			twin := Binding{Queue: "twin", Args: cloneArgs(args)}
			if twin.Args == nil {
				twin.Args = map[string]Value{}
			}
			twin.Args["x-match"] = str(oppositeXMatch[args["x-match"].Str])
			mustBind(t, tbl, twin)
			live = append(live, twin)
		}
		got := tbl.Route("", headers, nil)
		if want := refRoute(Headers, live, "", headers); !slices.Equal(got, want) {
			t.Fatalf("Route(%v) = %q; reference %q (bindings %v)", headers, got, want, live)
		}
	})
}
