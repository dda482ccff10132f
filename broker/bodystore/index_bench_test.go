package bodystore

import (
	"runtime"
	"testing"
)

// BenchmarkIndexBytesPerBody measures the heap the store's in-memory index
// costs per body: 1M one-byte bodies put as the state machine puts them
// (Raft index increasing, 4 bodies an entry), and in "copied" a twentieth
// of them then copied by compaction (out of order, as copied keys are). A
// measurement, not a test: run it with -benchtime=1x and read
// index-bytes/body. Measured: 80 bytes with the Go map the index was.
func BenchmarkIndexBytesPerBody(b *testing.B) {
	for _, every := range []int{0, 20} {
		name := "in-order"
		if every > 0 {
			name = "copied"
		}
		b.Run(name, func(b *testing.B) { benchmarkIndex(b, every) })
	}
}

func benchmarkIndex(b *testing.B, copyEvery int) {
	for b.Loop() {
		const n = 1 << 20
		s, err := Open(b.TempDir(), Options{SegmentBytes: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		body := []byte{1}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var live []Key
		for i := range n {
			k := Key{Index: uint64(1000 + i/4), Position: uint32(i % 4)}
			if err := s.Put(k, body); err != nil {
				b.Fatal(err)
			}
			if copyEvery > 0 && i%copyEvery == 0 {
				live = append(live, k)
			}
		}
		p := s.Pin(func(yield func(Key)) {
			for _, k := range live {
				yield(k)
			}
		})
		p.partial = true // copy, do not delete the old segments
		if _, _, err := s.Compact(p); err != nil {
			b.Fatal(err)
		}
		live = nil
		s.mu.Lock()
		s.pending = nil // the write buffer is not the index
		s.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if st := s.Stats(); st.Bodies != n {
			b.Fatalf("%+v, want %d bodies", st, n)
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "index-bytes/body")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// BenchmarkIndexLookupInOrder is a snapshot's pin walk over the index: 1M
// keys in 256 segments, a twentieth of them moved (compaction), looked up
// in increasing order, without and with the hint that keeps the run of
// the key before. One op is the whole walk.
func BenchmarkIndexLookupInOrder(b *testing.B) {
	const n = 1 << 20
	x := newKeyIndex()
	keys := make([]Key, 0, n)
	for i := range n {
		k := Key{Index: uint64(1000 + i/4), Position: uint32(i % 4)}
		x.set(k, loc{seg: uint32(1 + i/(n/256)), off: uint32(i % (n / 256) * 100), n: 1})
		keys = append(keys, k)
	}
	for i := 0; i < n; i += 20 {
		x.set(keys[i], loc{seg: 300, off: uint32(i), n: 1})
	}
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				if _, ok := x.get(k); !ok {
					b.Fatal("lost", k)
				}
			}
		}
	})
	b.Run("getFrom", func(b *testing.B) {
		for b.Loop() {
			hint := -1
			for _, k := range keys {
				if _, ok := x.getFrom(k, &hint); !ok {
					b.Fatal("lost", k)
				}
			}
		}
	})
}
