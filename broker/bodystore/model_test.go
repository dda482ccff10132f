package bodystore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestModel runs random operations against a store and a map: puts (new
// and repeated keys), reads, syncs, pins and deletions, clean reopens, and
// crashes that cut the newest segment's unsynced tail at a random byte.
// After each step every key the model holds must read back its body; after
// a crash every key that was synced must still be there, and a key that
// survived must read its own body. Deleted keys are gone.
func TestModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		s, err := Open(dir, Options{SegmentBytes: 2048})
		if err != nil {
			t.Fatal(err)
		}
		model := map[Key][]byte{}
		synced := map[Key]bool{}
		next := uint64(1)
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
		}
		for step := range 300 {
			switch op := rng.IntN(20); {
			case op < 10: // a new body
				k := Key{Index: next, Position: uint32(rng.IntN(3))}
				next++
				b := make([]byte, rng.IntN(700))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
				if err := s.Put(k, b); err != nil {
					t.Fatal(err)
				}
				model[k] = b
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
			case op < 16: // pin a random half, delete the rest's segments
				keep := map[Key]bool{}
				for k := range model {
					if rng.IntN(2) == 0 {
						keep[k] = true
					}
				}
				p := s.Pin(func(yield func(Key)) {
					for k := range keep {
						yield(k)
					}
				})
				if _, err := s.DeleteUnpinned(p); err != nil {
					t.Fatal(err)
				}
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
			default: // crash: cut the newest segment's unsynced tail, reopen
				s.Close()
				m := readMarker(dir)
				segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
				if len(segs) > 0 {
					last := segs[len(segs)-1]
					var id uint32
					if _, err := fmt.Sscanf(filepath.Base(last), "seg-%010d.body", &id); err != nil {
						t.Fatal(err)
					}
					from := int64(0)
					switch {
					case id < m.seg:
						from = -1 // all synced: nothing to lose
					case id == m.seg:
						from = int64(m.off)
					}
					if st, err := os.Stat(last); err == nil && from >= 0 && st.Size() > from {
						if err := os.Truncate(last, from+rng.Int64N(st.Size()-from+1)); err != nil {
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
			}
			check(step, "after op")
		}
		if err := s.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatal(err)
		}
	}
}
