package broker

import (
	"runtime"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// BenchmarkQueuedMessageHeap measures the heap one queued 1 KiB message
// (no headers, no properties, routing key "q")
// costs a queue group's state machine (its state, and with bodies on disk
// the body store's index), with the bodies in memory and on disk: the
// memory side of issue 11. A measurement, not a test: run it with
// -benchtime=1x and read heap-bytes/msg.
func BenchmarkQueuedMessageHeap(b *testing.B) {
	for _, mode := range []BodyStore{BodiesInMemory, BodiesOnDisk} {
		b.Run(string(mode), func(b *testing.B) {
			const n = 100_000
			var keeper *bodyKeeper
			if mode == BodiesOnDisk {
				store, err := bodystore.Open(b.TempDir(), bodystore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer store.Close()
				keeper = newBodyKeeper(store, 1<<62, hclog.NewNullLogger())
			}
			f := newQueueStateMachine(nil, keeper)
			spec := &fsmpb.QueueSpec{Id: 1, Name: "q"}
			body := make([]byte, 1024)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range n {
				data, err := fsm.Encode(&fsmpb.Enqueue{
					Queues: []*fsmpb.QueueSpec{spec},
					Messages: []*fsmpb.EnqueueMessage{{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{
						Body: body, RoutingKey: "q", Properties: &fsmpb.Properties{},
					}}},
				})
				if err != nil {
					b.Fatal(err)
				}
				if res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}).(*fsm.Result); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/msg")
			runtime.KeepAlive(f)
		})
	}
}
