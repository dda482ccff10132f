package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// memorySink is a raft.SnapshotSink into memory.
type memorySink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memorySink) ID() string    { return "test" }
func (s *memorySink) Close() error  { s.closed = true; return nil }
func (s *memorySink) Cancel() error { s.cancelled = true; return nil }

// TestCaptureIsPersistedAsCapturedWhileApplying: a queue group's snapshot
// is captured, then more commands apply (their bodies fill and seal
// segments of a small body store) before it is persisted. The persisted
// bytes are the state's at the capture, and every body the state refers
// to afterwards is still in the store: the segments sealed between the
// capture and its Pin hold bodies the capture does not refer to, which the
// Pin must keep (bodyKeeper.pin), in disk mode; in memory mode the
// snapshot is the state's at the capture too.
func TestCaptureIsPersistedAsCapturedWhileApplying(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(fmt.Sprint("disk=", disk), func(t *testing.T) {
			var keeper *bodyKeeper
			if disk {
				store, err := bodystore.Open(t.TempDir(), bodystore.Options{SegmentBytes: 4096})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = store.Close() })
				keeper = newBodyKeeper(store, 1<<40, hclog.NewNullLogger())
			}
			f := newQueueStateMachine(nil, keeper)
			spec := &fsmpb.QueueSpec{Id: 1, Name: "q"}
			index := uint64(0)
			publish := func(n int) {
				index++
				e := &fsmpb.Enqueue{Queues: []*fsmpb.QueueSpec{spec}, NowMs: 1}
				for i := range n {
					body := bytes.Repeat([]byte{byte(index), byte(i)}, 512)
					e.Messages = append(e.Messages, &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{Body: body, RoutingKey: "q"}})
				}
				data, err := fsm.Encode(e)
				if err != nil {
					t.Fatal(err)
				}
				if res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(*fsm.Result); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			for range 3 {
				publish(5)
			}
			var want bytes.Buffer
			f.read(func(g *fsm.QueueGroup) {
				if err := g.WriteSnapshot(&want); err != nil {
					t.Fatal(err)
				}
			})
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			for range 6 {
				publish(5) // 5 KiB an entry: a sealed segment or more each
			}
			var sink memorySink
			if err := snap.Persist(&sink); err != nil {
				t.Fatal(err)
			}
			snap.Release()
			if !sink.closed || sink.cancelled {
				t.Fatalf("sink closed %t, cancelled %t", sink.closed, sink.cancelled)
			}
			if !bytes.Equal(sink.Bytes(), want.Bytes()) {
				t.Fatalf("persisted %d bytes, the state at the capture was %d", sink.Len(), want.Len())
			}
			if !disk {
				return
			}
			refs := 0
			f.read(func(g *fsm.QueueGroup) {
				g.VisitBodyRefs(func(r *fsmpb.BodyRef) {
					refs++
					body, err := keeper.store.Read(bodyKey(r))
					if err != nil || len(body) != int(r.GetLength()) || body[0] != byte(r.GetIndex()) {
						t.Fatalf("body %d/%d after the snapshot: %d bytes, %v", r.GetIndex(), r.GetPosition(), len(body), err)
					}
				})
			})
			if refs != 45 {
				t.Fatalf("the state refers to %d bodies, want 45", refs)
			}
		})
	}
}
