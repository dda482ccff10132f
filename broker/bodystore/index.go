package bodystore

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"sort"
)

// keyIndex maps each key the store holds to its record's place, in about
// 16 bytes a body where a Go map took about 80 (BenchmarkIndexBytesPerBody).
// The state machine puts keys in increasing order (Raft index, then
// position), so the keys of each segment form a sorted run above the
// previous segment's: a lookup is a binary search among the runs, then in
// one. A key that comes out of order (a body copied by compaction, one put
// by the restore of a snapshot, one of a Raft index too far from its
// segment's first) goes to a map instead, which a lookup reads first; the
// run's entry of a key that moved to the map is marked so, and no longer
// found there.
type keyIndex struct {
	runs  []*run
	moved map[Key]loc
	// movedPeak is the most entries moved held since it was last made: a
	// Go map keeps its buckets when entries go, so drop rebuilds one that
	// shrank to a quarter.
	movedPeak int
	count     int // keys found
}

// run holds the keys of one segment put in order.
type run struct {
	seg  uint32
	base uint64 // Raft index of its first key
	ents []entry
}

// entry is one key of a run: its Raft index less the run's base, its
// position, and its record's place in the run's segment.
type entry struct {
	delta, pos, off, n uint32
}

// gone marks, in entry.off, a key that moved (to keyIndex.moved, or
// away with its copy's segment). Offsets are below 2^31: a segment takes
// at most 1 GiB, one body at most 256 MiB.
const gone = 1 << 31

func newKeyIndex() *keyIndex { return &keyIndex{moved: make(map[Key]loc)} }

func (r *run) key(i int) Key {
	return Key{Index: r.base + uint64(r.ents[i].delta), Position: r.ents[i].pos}
}

// find returns the run and entry holding k, if any.
func (x *keyIndex) find(k Key) (*run, int, bool) {
	hint := -1
	return x.findFrom(k, &hint)
}

// findFrom is find, trying first the run *hint (an index into runs; -1:
// none) and leaving in *hint the run it searched: keys looked up in
// increasing order (a snapshot's pin walk, a queue's deliveries) mostly
// fall in the run of the one before, and skip the search of the runs.
func (x *keyIndex) findFrom(k Key, hint *int) (*run, int, bool) {
	if len(x.runs) == 0 {
		return nil, 0, false
	}
	// Put asks for a key above every other, mostly: no search then.
	if last := x.runs[len(x.runs)-1]; compareKeys(k, last.key(len(last.ents)-1)) > 0 {
		return nil, 0, false
	}
	ri := *hint
	if ri < 0 || ri >= len(x.runs) || compareKeys(x.runs[ri].key(0), k) > 0 ||
		(ri+1 < len(x.runs) && compareKeys(x.runs[ri+1].key(0), k) <= 0) {
		ri = sort.Search(len(x.runs), func(i int) bool { return compareKeys(x.runs[i].key(0), k) > 0 }) - 1
	}
	*hint = ri
	if ri < 0 {
		return nil, 0, false
	}
	r := x.runs[ri]
	d := k.Index - r.base
	if d > math.MaxUint32 {
		return nil, 0, false
	}
	want := entry{delta: uint32(d), pos: k.Position}
	i, ok := slices.BinarySearchFunc(r.ents, want, func(e, t entry) int {
		return cmp.Or(cmp.Compare(e.delta, t.delta), cmp.Compare(e.pos, t.pos))
	})
	return r, i, ok
}

// get returns where k's record is.
func (x *keyIndex) get(k Key) (loc, bool) {
	hint := -1
	return x.getFrom(k, &hint)
}

// getFrom is get with findFrom's hint. The runs are searched first: a key
// in moved has no live entry in them (set marks it gone when it moves), so
// the map is looked up only for keys the runs do not hold.
func (x *keyIndex) getFrom(k Key, hint *int) (loc, bool) {
	if r, i, ok := x.findFrom(k, hint); ok && r.ents[i].off&gone == 0 {
		e := r.ents[i]
		return loc{seg: r.seg, off: e.off, n: e.n}, true
	}
	if len(x.moved) > 0 {
		if l, ok := x.moved[k]; ok {
			return l, true
		}
	}
	return loc{}, false
}

// set records k's record at l: a new key, or one whose record was copied
// (compaction), or found again in a later segment (recovery).
func (x *keyIndex) set(k Key, l loc) {
	if _, ok := x.moved[k]; ok {
		x.moved[k] = l
		return
	}
	if r, i, ok := x.find(k); ok {
		if r.ents[i].off&gone == 0 {
			r.ents[i].off |= gone
			x.count--
		}
		x.move(k, l)
		return
	}
	var last *run
	if len(x.runs) > 0 {
		last = x.runs[len(x.runs)-1]
		if compareKeys(k, last.key(len(last.ents)-1)) <= 0 || l.seg < last.seg {
			x.move(k, l) // out of order
			return
		}
	}
	x.count++
	if last == nil || last.seg != l.seg || k.Index-last.base > math.MaxUint32 {
		if last != nil {
			last.ents = slices.Clone(last.ents) // sealed: no room to grow kept
		}
		last = &run{seg: l.seg, base: k.Index}
		x.runs = append(x.runs, last)
	}
	last.ents = append(last.ents, entry{delta: uint32(k.Index - last.base), pos: k.Position, off: l.off, n: l.n})
}

func (x *keyIndex) move(k Key, l loc) {
	x.moved[k] = l
	x.count++
	x.movedPeak = max(x.movedPeak, len(x.moved))
}

// drop forgets every key whose record is in one of the segments dead
// holds.
func (x *keyIndex) drop(dead map[uint32]*segment) {
	x.runs = slices.DeleteFunc(x.runs, func(r *run) bool {
		if dead[r.seg] == nil {
			return false
		}
		for _, e := range r.ents {
			if e.off&gone == 0 {
				x.count--
			}
		}
		return true
	})
	for k, l := range x.moved {
		if dead[l.seg] != nil {
			delete(x.moved, k)
			x.count--
		}
	}
	if len(x.moved) < x.movedPeak/4 {
		moved := make(map[Key]loc, len(x.moved)) // not maps.Clone: it keeps the size
		for k, l := range x.moved {
			moved[k] = l
		}
		x.moved = moved
		x.movedPeak = len(moved)
	}
}

// all yields every key found and its place, in no particular order.
func (x *keyIndex) all() iter.Seq2[Key, loc] {
	return func(yield func(Key, loc) bool) {
		for k, l := range x.moved {
			if !yield(k, l) {
				return
			}
		}
		for _, r := range x.runs {
			for i, e := range r.ents {
				if e.off&gone == 0 && !yield(r.key(i), loc{seg: r.seg, off: e.off, n: e.n}) {
					return
				}
			}
		}
	}
}
