package fsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// benchMetaQueues is the size of the meta state of the session-end
// benchmarks: issue 9 saw 220,000 queues.
const benchMetaQueues = 200_000

// benchMeta returns a Meta with benchMetaQueues queues, each bound to
// amq.direct under its name, every hundredth exclusive to a session of its
// own, and the next Raft index.
func benchMeta(b *testing.B) (*Meta, uint64) {
	b.Helper()
	m := NewMeta(4)
	idx := uint64(0)
	for i := range benchMetaQueues {
		name := fmt.Sprintf("queue-%06d", i)
		d := &fsmpb.DeclareQueue{Name: name}
		if i%100 == 0 {
			d.Exclusive, d.OwnerSession = true, fmt.Sprintf("owner-%06d", i)
		}
		idx++
		if res := m.Apply(idx, d); res.Err != nil {
			b.Fatal(res.Err)
		}
		idx++
		if res := m.Apply(idx, &fsmpb.Bind{Exchange: "amq.direct", Queue: name, Key: name}); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	return m, idx + 1
}

// BenchmarkMetaSessionDown measures the end of a session in a meta state
// of benchMetaQueues queues (issue 9: closing 4,000 sessions stalled the
// meta group for a minute, each one scanning and sorting every queue).
//
// idle: one MetaSessionDown of a session that owns nothing; the extra
// metric is the time of 4,000 of them. owner: a session declares an
// exclusive queue, binds it, and ends (three commands), so the end deletes
// a queue and its binding.
func BenchmarkMetaSessionDown(b *testing.B) {
	b.Run("idle", func(b *testing.B) {
		m, idx := benchMeta(b)
		n := 0
		for b.Loop() {
			res := m.Apply(idx, &fsmpb.MetaSessionDown{Sessions: []string{fmt.Sprintf("gone-%d", n)}})
			if res.Err != nil || len(res.DroppedQueues) != 0 {
				b.Fatalf("%+v", res)
			}
			idx++
			n++
		}
		per := b.Elapsed() / time.Duration(n)
		b.ReportMetric(float64(4000*per)/float64(time.Millisecond), "ms/4000-sessions")
	})
	b.Run("owner", func(b *testing.B) {
		m, idx := benchMeta(b)
		n := 0
		for b.Loop() {
			session, name := fmt.Sprintf("s-%d", n), fmt.Sprintf("excl-%d", n)
			m.Apply(idx, &fsmpb.DeclareQueue{Name: name, Exclusive: true, OwnerSession: session})
			m.Apply(idx+1, &fsmpb.Bind{Exchange: "amq.topic", Queue: name, Key: "#"})
			res := m.Apply(idx+2, &fsmpb.MetaSessionDown{Sessions: []string{session}})
			if res.Err != nil || len(res.DroppedQueues) != 1 {
				b.Fatalf("%+v", res)
			}
			idx += 3
			n++
		}
	})
}
