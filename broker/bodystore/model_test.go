package bodystore

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestModel runs random operations against a store and a map: puts (new
// keys, in order mostly, and repeated keys), reads, syncs, snapshots (pin, sync, delete, compact:
// live bodies are copied out of sparse segments), clean reopens, and
// crashes that cut each segment's unsynced tail at a random byte.
// After each step every key the model holds must read back its body; after
// a crash every key that was synced must still be there, and a key that
// survived must read its own body. Deleted keys are gone.
func TestModel(t *testing.T) {
	moved := 0
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		s, err := Open(dir, Options{SegmentBytes: 2048})
		if err != nil {
			t.Fatal(err)
		}
		model := map[Key][]byte{}
		synced := map[Key]bool{}
		ever := map[Key][]byte{} // every body put
		next := uint64(1)
		// adopt takes into the model, after a reopen, the keys the store
		// holds and the model dropped: a body copied out of a sparse
		// segment whose copy was deleted (no longer referenced) while the
		// old segment stayed (referenced by others) is found there again.
		// It must be a body put under that key.
		adopt := func(step int) {
			for k := range s.index.all() {
				if _, ok := model[k]; ok {
					continue
				}
				b, ok := ever[k]
				if !ok {
					t.Fatalf("seed %d step %d: reopened store holds %+v, never put", seed, step, k)
				}
				model[k] = b
			}
		}
		check := func(step int, what string) {
			t.Helper()
			if st := s.Stats(); st.Bodies != len(model) {
				t.Fatalf("seed %d step %d (%s): store holds %d bodies, model %d", seed, step, what, st.Bodies, len(model))
			}
			for k, want := range model {
				got, err := s.Read(k)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("seed %d step %d (%s): read %+v: %v", seed, step, what, k, err)
				}
			}
			// ReadMany: every key in key order (mostly the order in the
			// segments, so runs read together), then a random few in any
			// order.
			keys := slices.SortedFunc(maps.Keys(model), func(a, b Key) int {
				return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Position, b.Position))
			})
			some := slices.Clone(keys)
			rng.Shuffle(len(some), func(i, j int) { some[i], some[j] = some[j], some[i] })
			for _, ks := range [][]Key{keys, some[:len(some)/3]} {
				got, err := s.ReadMany(ks)
				if err != nil {
					t.Fatalf("seed %d step %d (%s): ReadMany of %d keys: %v", seed, step, what, len(ks), err)
				}
				for i, k := range ks {
					if !bytes.Equal(got[i], model[k]) {
						t.Fatalf("seed %d step %d (%s): ReadMany gave %+v a wrong body", seed, step, what, k)
					}
				}
			}
		}
		for step := range 300 {
			switch op := rng.IntN(20); {
			case op < 10: // a new body
				k := Key{Index: next, Position: uint32(rng.IntN(3))}
				next++
				switch rng.IntN(20) {
				case 0: // out of order (a body a restored snapshot carries)
					k = Key{Index: 1 + rng.Uint64N(next), Position: 5}
					if _, ok := ever[k]; ok {
						continue
					}
				case 1: // a Raft index far past the last
					next += 1 << 32
				}
				b := make([]byte, rng.IntN(700))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				if err := s.Put(k, b); err != nil {
					t.Fatal(err)
				}
				model[k] = b
				ever[k] = b
			case op < 12: // a repeated put keeps the first body
				for k := range model {
					if err := s.Put(k, []byte("other")); err != nil {
						t.Fatal(err)
					}
					break
				}
			case op < 14:
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
				for k := range model {
					synced[k] = true
				}
			case op < 16: // a snapshot: pin a random part, sync, delete the rest's segments, compact
				keep := map[Key]bool{}
				for k := range model {
					if rng.IntN(4) == 0 {
						keep[k] = true
					}
				}
				p := s.Pin(func(yield func(Key)) {
					for k := range keep {
						yield(k)
					}
				})
				// The state machine's order: the store is synced before
				// the snapshot is persisted, and segments go after.
				if rng.IntN(4) > 0 {
					if err := s.Sync(); err != nil {
						t.Fatal(err)
					}
					for k := range model {
						synced[k] = true
					}
					if _, err := s.DeleteUnpinned(p); err != nil {
						t.Fatal(err)
					}
				}
				n, _, err := s.Compact(p)
				if err != nil {
					t.Fatal(err)
				}
				moved += n
				// The model drops what is no longer in the store: only
				// unpinned keys may go.
				for k := range model {
					if !s.Has(k) {
						if keep[k] {
							t.Fatalf("seed %d step %d: pinned key %+v deleted", seed, step, k)
						}
						delete(model, k)
						delete(synced, k)
					}
				}
			case op < 18: // clean reopen
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if s, err = Open(dir, Options{SegmentBytes: 2048}); err != nil {
					t.Fatal(err)
				}
				adopt(step)
			default: // crash: cut every segment's unsynced tail at a random byte, reopen
				s.Close()
				m := readMarker(dir)
				segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
				for _, seg := range segs {
					var id uint32
					if _, err := fmt.Sscanf(filepath.Base(seg), "seg-%010d.body", &id); err != nil {
						t.Fatal(err)
					}
					from := int64(0)
					switch {
					case id < m.seg:
						continue // synced: nothing to lose
					case id == m.seg:
						from = int64(m.off)
					}
					if st, err := os.Stat(seg); err == nil && st.Size() > from {
						if err := os.Truncate(seg, from+rng.Int64N(st.Size()-from+1)); err != nil {
							t.Fatal(err)
						}
					}
				}
				if s, err = Open(dir, Options{SegmentBytes: 2048}); err != nil {
					t.Fatal(err)
				}
				for k := range model {
					if s.Has(k) {
						continue
					}
					if synced[k] {
						t.Fatalf("seed %d step %d: synced key %+v lost in a crash", seed, step, k)
					}
					delete(model, k)
				}
				adopt(step)
			}
			check(step, "after op")
		}
		if err := s.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatal(err)
		}
	}
	if moved == 0 {
		t.Fatal("no body was copied out of a sparse segment: compaction untested")
	}
	t.Logf("%d bodies copied out of sparse segments", moved)
}
