package fsm

import (
	"bytes"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// BenchmarkEnqueue1000x1KiB applies one Enqueue of 1000 messages of 1 KiB
// to one queue (a fresh group per iteration, so the backlog does not grow).
func BenchmarkEnqueue1000x1KiB(b *testing.B) {
	spec := qspec(1, "jobs")
	e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}, NowMs: 1}
	body := bytes.Repeat([]byte("x"), 1024)
	for i := range 1000 {
		e.Messages = append(e.Messages, &fsmpb.EnqueueMessage{
			QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{Body: body},
			ProducerId: "p", Sequence: uint64(i + 1),
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		g := NewQueueGroup()
		if res := g.Apply(1, e); res.Err != nil || len(res.Enqueued) != 1000 {
			b.Fatal(res.Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/msg")
}

// BenchmarkEnqueueAssignSettle measures one message's whole cycle: an
// Enqueue that assigns it to a waiting consumer, then the Settle of its tag.
func BenchmarkEnqueueAssignSettle(b *testing.B) {
	spec := qspec(1, "jobs")
	g := NewQueueGroup()
	g.Apply(1, checkout(spec, "s", "c", 10, false))
	body := bytes.Repeat([]byte("x"), 1024)
	idx := uint64(2)
	b.ReportAllocs()
	for b.Loop() {
		e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}, NowMs: 1, Messages: []*fsmpb.EnqueueMessage{
			{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{Body: body}},
		}}
		res := g.Apply(idx, e)
		if len(res.Deliveries) != 1 {
			b.Fatalf("%d deliveries", len(res.Deliveries))
		}
		d := res.Deliveries[0]
		g.Apply(idx+1, settle(ctags(1, "s", "c", d.Tag)))
		idx += 2
	}
}
