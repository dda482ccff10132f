package routing

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
)

// bindingID is a binding's identity in a form usable as a map key: Args is
// replaced by its canonical encoding, so two argument maps with the same
// entries produce the same ID whatever order they were built in.
type bindingID struct {
	queue string
	key   string
	args  string
}

// idOf returns b's identity.
func idOf(b Binding) bindingID {
	return bindingID{queue: b.Queue, key: b.Key, args: canonicalArgs(b.Args)}
}

// compareIDs orders identities by queue, then key, then canonical args:
// the order Bindings promises.
func compareIDs(a, b bindingID) int {
	if a.queue != b.queue {
		if a.queue < b.queue {
			return -1
		}
		return 1
	}
	if a.key != b.key {
		if a.key < b.key {
			return -1
		}
		return 1
	}
	if a.args != b.args {
		if a.args < b.args {
			return -1
		}
		return 1
	}
	return 0
}

// canonicalArgs encodes args injectively and independently of map order.
// Every field of Value is encoded, not only the one its Type selects, so
// that two values get the same encoding exactly when == says they are
// equal; the exceptions are floats, see appendFloat.
func canonicalArgs(args map[string]Value) string {
	if len(args) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(args))
	var buf []byte
	for _, k := range keys {
		v := args[k]
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = append(buf, byte(v.Type))
		buf = binary.AppendUvarint(buf, uint64(len(v.Str)))
		buf = append(buf, v.Str...)
		buf = binary.BigEndian.AppendUint64(buf, uint64(v.Int))
		if v.Bool {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		buf = appendFloat(buf, v.Float)
	}
	return string(buf)
}

// appendFloat encodes f so that -0 and +0 share an identity, as they do
// under ==, and every NaN shares one too. Strict == would make a binding
// holding a NaN unequal to itself: it could be added any number of times
// and never removed, so identity deliberately treats NaN as equal to NaN.
func appendFloat(buf []byte, f float64) []byte {
	switch {
	case f == 0:
		f = 0
	case math.IsNaN(f):
		f = math.NaN()
	}
	return binary.BigEndian.AppendUint64(buf, math.Float64bits(f))
}

// cloneArgs copies args so the table never shares a map with its caller:
// a caller mutating its map after Bind must not change a stored binding's
// identity. Empty maps become nil, since identity does not tell them apart.
func cloneArgs(args map[string]Value) map[string]Value {
	if len(args) == 0 {
		return nil
	}
	return maps.Clone(args)
}
