package bodystore

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKeyIndexModel runs random operations against a keyIndex and a map:
// keys mostly in increasing order, some out of order (restored bodies),
// some far past the last (a Raft index more than 2^32 after its run's
// first), records moved to later segments (compaction, recovery), and
// segments dropped. After each step every key must be found where the map
// says, none other, and the count must match.
func TestKeyIndexModel(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 11))
		x := newKeyIndex()
		hint := -1
		model := map[Key]loc{}
		var ever []Key
		next := uint64(1)
		seg, off := uint32(1), uint32(0)
		place := func() loc {
			if rng.IntN(40) == 0 {
				seg, off = seg+1, 0
			}
			off += 100
			return loc{seg: seg, off: off, n: uint32(rng.IntN(1000))}
		}
		for step := range 2000 {
			switch op := rng.IntN(100); {
			case op < 60: // the next key in order
				k := Key{Index: next, Position: uint32(rng.IntN(3))}
				next += uint64(1 + rng.IntN(2))
				if _, ok := model[k]; ok {
					continue
				}
				l := place()
				x.set(k, l)
				model[k] = l
				ever = append(ever, k)
			case op < 65: // a key out of order, not held
				k := Key{Index: rng.Uint64N(next), Position: 7 + uint32(rng.IntN(3))}
				if _, ok := model[k]; ok {
					continue
				}
				l := place()
				x.set(k, l)
				model[k] = l
				ever = append(ever, k)
			case op < 66: // far past the last
				next += 1<<32 + uint64(rng.IntN(10))
			case op < 80: // a held key's record copied to the segment being written
				for k := range model {
					l := place()
					x.set(k, l)
					model[k] = l
					break
				}
			case op < 85: // drop some segments
				dead := map[uint32]*segment{}
				for range 1 + rng.IntN(3) {
					dead[1+uint32(rng.IntN(int(seg)))] = &segment{}
				}
				delete(dead, seg) // not the one being written
				x.drop(dead)
				for k, l := range model {
					if dead[l.seg] != nil {
						delete(model, k)
					}
				}
			default: // look up keys once held
				for range 10 {
					if len(ever) == 0 {
						break
					}
					k := ever[rng.IntN(len(ever))]
					got, ok := x.get(k)
					want, held := model[k]
					if ok != held || got != want {
						t.Fatalf("seed %d step %d: get %+v = %+v %t, want %+v %t", seed, step, k, got, ok, want, held)
					}
					// With a hint left by earlier lookups (any run, or
					// one since dropped), the answer is the same.
					if got, ok := x.getFrom(k, &hint); ok != held || got != want {
						t.Fatalf("seed %d step %d: getFrom %+v = %+v %t, want %+v %t", seed, step, k, got, ok, want, held)
					}
				}
			}
			if x.count != len(model) {
				t.Fatalf("seed %d step %d: count %d, model %d", seed, step, x.count, len(model))
			}
		}
		n := 0
		for k, l := range x.all() {
			if model[k] != l {
				t.Fatalf("seed %d: all yields %+v at %+v, model %+v", seed, k, l, model[k])
			}
			n++
		}
		if n != len(model) {
			t.Fatalf("seed %d: all yields %d keys, model %d", seed, n, len(model))
		}
		for k, want := range model {
			if got, ok := x.get(k); !ok || got != want {
				t.Fatalf("seed %d: get %+v = %+v %t, want %+v", seed, k, got, ok, want)
			}
		}
		// In increasing order, as a snapshot's pin walks them, with one
		// hint throughout: most lookups stay in the run of the one before.
		keys := slices.SortedFunc(maps.Keys(model), compareKeys)
		hint = -1
		for _, k := range keys {
			if got, ok := x.getFrom(k, &hint); !ok || got != model[k] {
				t.Fatalf("seed %d: in order, getFrom %+v = %+v %t, want %+v", seed, k, got, ok, model[k])
			}
		}
	}
}
