package fsm

import (
	"testing"

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
