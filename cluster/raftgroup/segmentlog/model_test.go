package segmentlog

import (
	"errors"
	"os"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"
)

// TestMatchesInmemStore drives the store and raft.InmemStore with the
// same random sequences of what raft does to a log — appends continuing
// it, head deletions (compaction), tail deletions (conflicts), clearing,
// reads — and reopens, and checks that they always agree. Segments are
// small, so appends roll over often and some entries are larger than a
// segment.
func TestMatchesInmemStore(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "segmentlog-model-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		const segBytes = 1024
		s, err := Open(dir, Options{SegmentBytes: segBytes})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		model := raft.NewInmemStore()
		// next is the index raft would append next: after the last entry,
		// or where a deletion left it.
		next := rapid.Uint64Range(1, 1000).Draw(rt, "start")
		term := uint64(1)
		bounds := func() (uint64, uint64) {
			f, _ := model.FirstIndex()
			l, _ := model.LastIndex()
			return f, l
		}
		check := func(what string) {
			f, l := bounds()
			gf, err1 := s.FirstIndex()
			gl, err2 := s.LastIndex()
			if err1 != nil || err2 != nil || gf != f || gl != l {
				rt.Fatalf("after %s: [%d, %d] (%v, %v), model [%d, %d]", what, gf, gl, err1, err2, f, l)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				n := rapid.IntRange(1, 8).Draw(rt, "n")
				var logs []*raft.Log
				for i := range n {
					size := rapid.IntRange(0, 400).Draw(rt, "size")
					if rapid.IntRange(0, 20).Draw(rt, "big") == 0 {
						size = 3 * segBytes
					}
					l := entry(next+uint64(i), term, size)
					if rapid.Bool().Draw(rt, "ext") {
						l.Extensions = []byte{byte(i), 1, 2}
					}
					logs = append(logs, l)
				}
				if err := s.StoreLogs(logs); err != nil {
					rt.Fatalf("StoreLogs from %d: %v", next, err)
				}
				_ = model.StoreLogs(logs)
				next += uint64(n)
				check("append")
			},
			"compact": func(rt *rapid.T) {
				f, l := bounds()
				if l == 0 {
					rt.Skip("empty")
				}
				max := rapid.Uint64Range(f, l).Draw(rt, "max")
				if err := s.DeleteRange(f, max); err != nil {
					rt.Fatal(err)
				}
				_ = model.DeleteRange(f, max)
				check("compact")
			},
			"conflict": func(rt *rapid.T) {
				f, l := bounds()
				if l == 0 {
					rt.Skip("empty")
				}
				min := rapid.Uint64Range(f, l).Draw(rt, "min")
				if err := s.DeleteRange(min, l); err != nil {
					rt.Fatal(err)
				}
				_ = model.DeleteRange(min, l)
				next, term = min, term+1
				check("conflict")
			},
			"get": func(rt *rapid.T) {
				f, l := bounds()
				i := rapid.Uint64Range(max(f, 3)-2, l+2).Draw(rt, "index")
				var got, want raft.Log
				err := s.GetLog(i, &got)
				werr := model.GetLog(i, &want)
				switch {
				case werr != nil && !errors.Is(err, raft.ErrLogNotFound):
					rt.Fatalf("GetLog(%d): %v, model has none", i, err)
				case werr == nil && err != nil:
					rt.Fatalf("GetLog(%d): %v", i, err)
				case werr == nil:
					if d := sameLog(&got, &want); d != "" {
						rt.Fatal(d)
					}
				}
			},
			"reopen": func(rt *rapid.T) {
				if err := s.Close(); err != nil {
					rt.Fatal(err)
				}
				if s, err = Open(dir, Options{SegmentBytes: segBytes}); err != nil {
					rt.Fatal(err)
				}
				check("reopen")
			},
			"": func(rt *rapid.T) { check("nothing") },
		})
		// Every entry, at the end.
		f, l := bounds()
		for i := f; i <= l && l > 0; i++ {
			var got, want raft.Log
			if err := s.GetLog(i, &got); err != nil {
				rt.Fatalf("GetLog(%d): %v", i, err)
			}
			_ = model.GetLog(i, &want)
			if d := sameLog(&got, &want); d != "" {
				rt.Fatal(d)
			}
		}
	})
}
