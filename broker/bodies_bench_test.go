package broker

import (
	"fmt"
	"runtime"
	"testing"
	"time"

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

// BenchmarkSnapshotPause times, with bodies on disk, what a queue group's
// snapshot of a backlog of n messages holds the apply lock for (lock-ms:
// Snapshot, the capture) against what runs while commands apply
// (persist-ms: the Pin's walk of the captured state, pin-ms of it, and
// the serialisation), while another goroutine applies entries of 10
// messages with bodies throughout: max-apply-ms is the longest of those
// applies (each Put waits for the body store's lock, which the Pin takes
// for pinBatch keys at a time). Bodies of 16 bytes: the state and the
// index cost the same per message whatever their size. A measurement, not
// a test: run it with -benchtime=1x.
func BenchmarkSnapshotPause(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			store, err := bodystore.Open(b.TempDir(), bodystore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			keeper := newBodyKeeper(store, 1<<62, hclog.NewNullLogger())
			f := newQueueStateMachine(nil, keeper)
			spec := &fsmpb.QueueSpec{Id: 1, Name: "q"}
			body := make([]byte, 16)
			entry := func(msgs int) []byte {
				e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}}
				for range msgs {
					e.Messages = append(e.Messages, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{Body: body, RoutingKey: "q"}})
				}
				data, err := fsm.Encode(e)
				if err != nil {
					b.Fatal(err)
				}
				return data
			}
			var index uint64
			apply := func(data []byte) {
				index++
				if res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(*fsm.Result); res.Err != nil {
					b.Error(res.Err)
				}
			}
			big := entry(100)
			for range n / 100 {
				apply(big)
			}
			small := entry(10)
			var lock, pin, persist, maxApply time.Duration
			applies := 0
			for b.Loop() {
				stop, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					for {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						apply(small)
						maxApply = max(maxApply, time.Since(start))
						applies++
					}
				}()
				start := time.Now()
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				lock += time.Since(start)
				s := snap.(*indexSnapshot)
				start = time.Now()
				keeper.store.Pin(func(yield func(bodystore.Key)) {
					s.view.VisitBodyRefs(func(r *fsmpb.BodyRef) { yield(bodyKey(r)) })
				})
				pin += time.Since(start)
				start = time.Now()
				var sink memorySink
				if err := snap.Persist(&sink); err != nil {
					b.Fatal(err)
				}
				persist += time.Since(start)
				snap.Release()
				close(stop)
				<-done
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(lock), "lock-ms")
			b.ReportMetric(ms(pin), "pin-ms")
			b.ReportMetric(ms(persist), "persist-ms")
			b.ReportMetric(float64(maxApply.Microseconds())/1000, "max-apply-ms")
			b.ReportMetric(float64(applies)/float64(b.N), "applies")
		})
	}
}
