package fsm

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
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

// benchGroupQueues is the queues of one queue group in the session-end
// benchmarks: issue 9's 200,000 queues over 4 groups.
const benchGroupQueues = 50_000

// BenchmarkQueueSessionDown measures the end of one session in a queue
// group of benchGroupQueues queues, each with a consumer of its own
// session holding an unacked delivery (issue 9: ending a session scanned
// every queue). One iteration is a SessionDown of one session, which
// returns its delivery to its queue and leaves the queue idle, then a
// Checkout that brings the consumer back (and redelivers), so the state
// stays the same size; the cost is what the session holds, not the
// queues. The extra metric is the time of 4,000 such iterations.
func BenchmarkQueueSessionDown(b *testing.B) {
	g := NewQueueGroup()
	idx := uint64(0)
	apply := func(cmd proto.Message) *Result {
		idx++
		res := g.Apply(idx, cmd)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		return res
	}
	specs := make([]*fsmpb.QueueSpec, benchGroupQueues)
	sessions := make([]string, benchGroupQueues)
	for i := range specs {
		specs[i] = qspec(uint64(i+1), fmt.Sprintf("queue-%06d", i))
		sessions[i] = fmt.Sprintf("session-%06d", i)
		apply(checkout(specs[i], sessions[i], "c", 1, false))
		apply(enqueue1(1, specs[i], "m"))
	}
	n := 0
	for b.Loop() {
		i := n % benchGroupQueues
		res := apply(sessionDown(sessions[i]))
		if res.Count != 1 || len(res.IdleQueues) != 1 {
			b.Fatalf("session down: %+v", res)
		}
		if res := apply(checkout(specs[i], sessions[i], "c", 1, false)); len(res.Deliveries) != 1 {
			b.Fatalf("checkout: %d deliveries", len(res.Deliveries))
		}
		n++
	}
	per := b.Elapsed() / time.Duration(n)
	b.ReportMetric(float64(4000*per)/float64(time.Millisecond), "ms/4000-sessions")
}
