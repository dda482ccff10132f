package fsm

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// BenchmarkQueuedMessageStateHeap measures the heap one queued message
// costs the queue group's state alone (not a body store's index): the
// "index entry per message" of issue 11. Each message is a 1 KiB publish
// to the default exchange (routing key = the queue's name), encoded and
// decoded as a log entry is (100 messages an entry, as the committer
// batches), its body moved out as the broker's --body-store disk adapter
// does before Apply (a BodyRef, empty properties dropped). Variants: through
// a named exchange with a content type (the same for every message), with
// headers (two, one different in each message, and a named exchange),
// which the state must keep, and with the body in memory (--body-store
// memory). A measurement, not a test: run it with -benchtime=1x and read
// heap-bytes/msg.
func BenchmarkQueuedMessageStateHeap(b *testing.B) {
	for _, tc := range []struct {
		name     string
		n        int
		onDisk   bool
		exchange bool
		headers  bool
	}{
		{"disk", 500_000, true, false, false},
		{"disk-exchange", 500_000, true, true, false},
		{"disk-headers", 200_000, true, true, true},
		{"memory", 50_000, false, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(queuedMessageHeap(b, tc.n, tc.onDisk, tc.exchange, tc.headers), "heap-bytes/msg")
			}
		})
	}
}

// queuedMessageHeap enqueues n messages to one queue of a fresh group and
// returns the heap it grew by, per message, after a GC.
func queuedMessageHeap(b *testing.B, n int, onDisk, exchange, headers bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := queuedGroup(b, n, onDisk, exchange, headers)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(g)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkSnapshotIndex times a snapshot of a group holding a backlog of
// 1 KiB bodies on disk: the state without the bodies (issue 11: O(index),
// not O(bytes)). Sub-benchmarks: "write", the whole serialisation of the
// state (WriteSnapshot: what a capture did under the apply lock before
// Capture); "capture", what a snapshot does under the lock now (Capture:
// the list of blocks of the queue's ready messages, one pointer per 1,024);
// "view", the serialisation of a captured view, done without the lock.
func BenchmarkSnapshotIndex(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		g := queuedGroup(b, n, true, false, false)
		b.Run(fmt.Sprint("write/", n), func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := g.WriteSnapshot(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/float64(n), "snapshot-bytes/msg")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
		})
		b.Run(fmt.Sprint("capture/", n), func(b *testing.B) {
			for b.Loop() {
				if v := g.Capture(); v.LastIndex() != g.LastIndex() {
					b.Fatal("capture of another index")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
		})
		b.Run(fmt.Sprint("view/", n), func(b *testing.B) {
			v := g.Capture()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := v.WriteSnapshot(&buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/float64(n), "snapshot-bytes/msg")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
		})
	}
}

// queuedGroup is a fresh group with n messages enqueued to one queue, 100
// an entry, their bodies moved out when onDisk.
func queuedGroup(b *testing.B, n int, onDisk, exchange, headers bool) *QueueGroup {
	const perEntry = 100
	spec := qspec(1, "jobs")
	body := make([]byte, 1024)
	g := NewQueueGroup()
	for i := 0; i < n; i += perEntry {
		e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}, NowMs: 1, SizeRule: fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS}
		for j := range min(perEntry, n-i) {
			p := &fsmpb.Payload{Body: body, RoutingKey: "jobs", Properties: &fsmpb.Properties{}}
			if exchange {
				p.Exchange = "amq.direct"
				p.Properties.ContentType = "application/json"
			}
			if headers {
				p.Headers = map[string]*fsmpb.Value{
					"trace": {Kind: &fsmpb.Value_StringValue{StringValue: fmt.Sprint("t-", i+j)}},
					"tries": {Kind: &fsmpb.Value_IntValue{IntValue: 1}},
				}
			}
			e.Messages = append(e.Messages, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: p})
		}
		data, err := Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		cmd, err := Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		index := uint64(i/perEntry + 1)
		if onDisk {
			moveBodiesOut(index, cmd)
		}
		if res := g.Apply(index, cmd); res.Err != nil || len(res.Enqueued) != len(e.Messages) {
			b.Fatal(res.Err)
		}
	}
	if got, _ := g.QueueStats(1); got.Ready != uint64(n) {
		b.Fatalf("%d ready, want %d", got.Ready, n)
	}
	return g
}

// moveBodiesOut is what the broker's body store adapter (take) leaves in
// the payloads of a command at index, without the store.
func moveBodiesOut(index uint64, cmd proto.Message) {
	var payloads []*fsmpb.Payload
	switch c := cmd.(type) {
	case *fsmpb.Enqueue:
		for _, m := range c.GetMessages() {
			payloads = append(payloads, m.GetPayload())
		}
	case *fsmpb.DelayMessages:
		for _, m := range c.GetMessages() {
			payloads = append(payloads, m.GetPayload())
		}
	}
	for i, p := range payloads {
		if p == nil {
			continue
		}
		p.BodyRef = nil
		if pr := p.GetProperties(); pr != nil && proto.Size(pr) == 0 {
			p.Properties = nil
		}
		if len(p.GetBody()) > 0 {
			p.BodyRef = &fsmpb.BodyRef{Index: index, Position: uint32(i), Length: uint32(len(p.Body))}
			p.Body = nil
		}
	}
}
