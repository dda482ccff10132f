package fsm

import (
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// TestDequeMatchesSlice checks the ring buffer against a plain slice under
// random pushes and pops, across growth, wrap-around and shrinking.
func TestDequeMatchesSlice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var d deque[int]
		var model []int
		for i := range rapid.IntRange(0, 2000).Draw(t, "ops") {
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0, 1, 2:
				d.PushBack(i)
				model = append(model, i)
			case 3:
				v, ok := d.PopFront()
				if ok != (len(model) > 0) || (ok && v != model[0]) {
					t.Fatalf("pop %d %t, model %v", v, ok, model[:min(len(model), 3)])
				}
				if ok {
					model = model[1:]
				}
			case 4:
				if rapid.IntRange(0, 50).Draw(t, "clear") == 0 {
					d.Clear()
					model = nil
				}
			}
			if d.Len() != len(model) {
				t.Fatalf("len %d, model %d", d.Len(), len(model))
			}
			if f, ok := d.Front(); ok != (len(model) > 0) || (ok && f != model[0]) {
				t.Fatalf("front %d %t", f, ok)
			}
		}
		for i, v := range model {
			if d.At(i) != v {
				t.Fatalf("At(%d) = %d, want %d", i, d.At(i), v)
			}
		}
	})
}

func TestDequeShrinks(t *testing.T) {
	var d deque[int]
	for i := range 1 << 12 {
		d.PushBack(i)
	}
	for range 1<<12 - 3 {
		d.PopFront()
	}
	if len(d.buf) > 16 {
		t.Fatalf("ring of %d for 3 elements", len(d.buf))
	}
	if d.At(0) != 1<<12-3 {
		t.Fatalf("front %d", d.At(0))
	}
}

// TestDequeBlocks drives a deque far past one block and back, pushing and
// popping in bursts, against a slice: order and indexed reads across block
// boundaries, and the memory given back (a ring again) once it is small.
func TestDequeBlocks(t *testing.T) {
	var d deque[int]
	var model []int
	next := 0
	check := func() {
		t.Helper()
		if d.Len() != len(model) {
			t.Fatalf("len %d, model %d", d.Len(), len(model))
		}
		for _, i := range []int{0, len(model) / 3, len(model) / 2, len(model) - 1} {
			if i >= 0 && i < len(model) && d.At(i) != model[i] {
				t.Fatalf("At(%d) = %d, want %d", i, d.At(i), model[i])
			}
		}
	}
	for _, burst := range []struct{ push, pop int }{
		{300, 0}, {0, 100}, {5000, 0}, {0, 4000}, {dequeBlock, 700}, {0, 700}, {3 * dequeBlock, 0}, {0, 800},
	} {
		for range burst.push {
			d.PushBack(next)
			model = append(model, next)
			next++
		}
		for range burst.pop {
			v, ok := d.PopFront()
			if !ok || v != model[0] {
				t.Fatalf("pop %d %t, want %d", v, ok, model[0])
			}
			model = model[1:]
		}
		check()
		if len(model) > dequeBlock && (d.blocks == nil || len(d.blocks) > len(model)/dequeBlock+2) {
			t.Fatalf("%d elements in %d blocks", len(model), len(d.blocks))
		}
	}
	for len(model) > 0 {
		v, _ := d.PopFront()
		if v != model[0] {
			t.Fatalf("pop %d, want %d", v, model[0])
		}
		model = model[1:]
	}
	if d.blocks != nil || len(d.buf) > dequeMinCap {
		t.Fatalf("empty deque keeps %d blocks, a ring of %d", len(d.blocks), len(d.buf))
	}
}

// TestQueueMsgSize keeps a queued message's record within issue 11's
// index entry of at most 64 bytes, and at the 48 bytes dequeBlock is
// sized for (a block of exactly 6 pages). A field added here must be paid
// for elsewhere, or both numbers (and fsm/DESIGN.md) revisited.
func TestQueueMsgSize(t *testing.T) {
	if n := unsafe.Sizeof(queueMsg{}); n != 48 {
		t.Fatalf("queueMsg is %d bytes, want 48", n)
	}
}
