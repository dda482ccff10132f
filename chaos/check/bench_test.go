package check

import (
	"strconv"
	"testing"
)

// BenchmarkRecorder measures one recorded event (Delivered), the hot path of
// a workload.
func BenchmarkRecorder(b *testing.B) {
	rec := NewRecorder()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.Delivered("q", "id", "c", false)
		}
	})
}

// BenchmarkCheck1M checks a history of about a million events: 300k
// messages on 3 queues (one ordered), each published, delivered and acked,
// with 1 in 10 delivered twice.
func BenchmarkCheck1M(b *testing.B) {
	rec := NewRecorder()
	rec.Ordered("q0")
	const n = 300_000
	for i := range n {
		q, id := "q"+strconv.Itoa(i%3), strconv.Itoa(i)
		rec.Published(q, id, "p"+q, uint64(i), OK)
		rec.Delivered(q, id, "c", false)
		if i%10 == 0 {
			rec.Delivered(q, id, "c", true)
		}
		rec.Acked(q, id, "c", OK)
	}
	h := rec.History()
	b.ResetTimer()
	for b.Loop() {
		if r := Check(h); !r.Strict() || r.Confirmed != n {
			b.Fatalf("unexpected report %+v", r)
		}
	}
}
