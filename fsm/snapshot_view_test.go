package fsm

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// TestDequeShareIsolated checks the copy on write of deque.share: views
// taken at random points keep the elements they held while the deque
// goes on with pushes, pops (zeroing slots) and clears, through the ring,
// the blocks and back.
func TestDequeShareIsolated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var d deque[int]
		var model []int
		type held struct {
			view deque[int]
			want []int
		}
		var views []held
		next := 1
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1:
				for range rapid.IntRange(0, 3000).Draw(t, "pushes") {
					d.PushBack(next)
					model = append(model, next)
					next++
				}
			case 2, 3:
				for range rapid.IntRange(0, 3000).Draw(t, "pops") {
					v, ok := d.PopFront()
					if ok != (len(model) > 0) || ok && v != model[0] {
						t.Fatalf("pop %d %t", v, ok)
					}
					if ok {
						model = model[1:]
					}
				}
			case 4:
				views = append(views, held{d.share(), slices.Clone(model)})
			case 5:
				if rapid.IntRange(0, 5).Draw(t, "clear") == 0 {
					d.Clear()
					model = nil
				}
			}
		}
		for i, h := range views {
			if h.view.Len() != len(h.want) {
				t.Fatalf("view %d: %d elements, want %d", i, h.view.Len(), len(h.want))
			}
			for j, w := range h.want {
				if got := h.view.At(j); got != w {
					t.Fatalf("view %d element %d is %d, want %d", i, j, got, w)
				}
			}
		}
	})
}

// TestQueueGroupCaptureIsolated checks Capture's promise: a view written
// while the group goes on applying random commands (bulk enqueues among
// them, so that the ready lists grow into blocks and drain) gives exactly
// the bytes, and the body references, that WriteSnapshot and
// VisitBodyRefs gave at the capture, for bodies in the state and moved
// out (held inline). The views are written on another goroutine while
// commands apply, for the race detector.
func TestQueueGroupCaptureIsolated(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		specs := []*fsmpb.QueueSpec{drawSpec(t, 1), drawSpec(t, 2), drawSpec(t, 3), qspec(4, "q4")}
		mem, disk := NewQueueGroup(), NewQueueGroup()
		type held struct {
			name      string
			view      *QueueGroupSnapshot
			want      []byte
			wantRefs  []string
			got       bytes.Buffer
			err       error
			done      chan struct{}
			writeLate bool
		}
		var views []*held
		now := int64(1000)
		for i := range rapid.IntRange(1, 60).Draw(t, "commands") {
			idx := uint64(i + 1)
			if rapid.IntRange(0, 3).Draw(t, "capture") == 0 {
				for name, g := range map[string]*QueueGroup{"memory": mem, "disk": disk} {
					h := &held{name: fmt.Sprint(name, " at ", idx), want: propSnapshot(t, g), wantRefs: bodyRefList(g), done: make(chan struct{})}
					h.view = g.Capture()
					h.writeLate = rapid.Bool().Draw(t, "writeLate")
					if !h.writeLate {
						go func() {
							defer close(h.done)
							h.err = h.view.WriteSnapshot(&h.got)
						}()
					}
					views = append(views, h)
				}
			}
			var cmd proto.Message
			if rapid.IntRange(0, 4).Draw(t, "bulk") == 0 {
				cmd = bulkEnqueue(t, specs, now)
			} else {
				cmd = drawCommand(t, mem, specs, &now)
			}
			moved := proto.Clone(cmd)
			moveBodiesOut(idx, moved)
			mem.Apply(idx, cmd)
			disk.Apply(idx, moved)
		}
		for _, h := range views {
			if h.writeLate {
				h.err = h.view.WriteSnapshot(&h.got)
			} else {
				<-h.done
			}
			if h.err != nil {
				t.Fatalf("%s: %v", h.name, h.err)
			}
			if !bytes.Equal(h.got.Bytes(), h.want) {
				t.Fatalf("%s: the view's snapshot (%d bytes) differs from the one at capture (%d bytes)", h.name, h.got.Len(), len(h.want))
			}
			var refs []string
			h.view.VisitBodyRefs(func(r *fsmpb.BodyRef) {
				refs = append(refs, fmt.Sprint(r.GetIndex(), "/", r.GetPosition(), "/", r.GetLength()))
			})
			slices.Sort(refs)
			if !slices.Equal(refs, h.wantRefs) {
				t.Fatalf("%s: the view's body references differ from those at capture", h.name)
			}
		}
	})
}

// bulkEnqueue is an Enqueue of hundreds to thousands of messages to one
// queue, some with priorities: enough to move a ready list into blocks.
func bulkEnqueue(t *rapid.T, specs []*fsmpb.QueueSpec, now int64) *fsmpb.Enqueue {
	ref := rapid.Uint32Range(0, uint32(len(specs)-1)).Draw(t, "bulkQueue")
	e := &fsmpb.Enqueue{Queues: specs, NowMs: now}
	for j := range rapid.IntRange(200, 2500).Draw(t, "bulkMsgs") {
		m := emsg(fmt.Sprint("b", j%7), ref)
		if j%3 == 0 {
			m.Payload.Exchange, m.Payload.RoutingKey = "", specs[ref].GetName()
		}
		if j%5 == 0 {
			m.Payload.Properties = &fsmpb.Properties{Priority: uint32(j % 4)}
		}
		e.Messages = append(e.Messages, m)
	}
	return e
}
