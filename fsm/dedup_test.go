package fsm

import (
	"fmt"
	"math"
	"testing"
)

func TestDedupWindow(t *testing.T) {
	type op struct {
		seq  uint64
		seen bool // expected answer before recording
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"in order", []op{{1, false}, {2, false}, {1, true}, {2, true}, {3, false}}},
		{"out of order within the window", []op{{10, false}, {7, false}, {9, false}, {7, true}, {8, false}, {10, true}}},
		{"older than the window", []op{{DedupWindow + 10, false}, {10, true}, {11, false}, {11, true}}},
		{"a jump past the window forgets everything in between", []op{
			{1, false}, {2, false}, {3 * DedupWindow, false}, {2*DedupWindow + 1, false}, {2 * DedupWindow, true}}},
		{"a slide clears the reused bit positions", []op{
			{5, false}, {5 + DedupWindow - 1, false}, {5 + DedupWindow, false}, {5 + DedupWindow, true}, {5, true}}},
		{"the largest sequence", []op{{math.MaxUint64 - 1, false}, {math.MaxUint64, false}, {math.MaxUint64, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDedupTable()
			for i, o := range tt.ops {
				if got := d.seen("p", o.seq); got != o.seen {
					t.Fatalf("op %d: seen(%d) = %t, want %t", i, o.seq, got, o.seen)
				}
				d.record("p", o.seq, uint64(i+1))
				if !d.seen("p", o.seq) {
					t.Fatalf("op %d: %d not seen after recording", i, o.seq)
				}
			}
		})
	}
}

func TestDedupEvictsLeastRecentlyUsed(t *testing.T) {
	d := newDedupTable()
	// All producers but "p00007" publish at index 1; it publishes again later.
	for i := range DedupMaxProducers {
		d.record(fmt.Sprintf("p%05d", i), 1, 1)
	}
	d.record("p00007", 2, 2)
	d.record("new", 1, 3)
	if len(d.byID) != DedupMaxProducers {
		t.Fatalf("%d producers, want %d", len(d.byID), DedupMaxProducers)
	}
	// Ties on the index are broken by id: p00000 goes first.
	if d.seen("p00000", 1) || !d.seen("p00001", 1) || !d.seen("p00007", 2) || !d.seen("new", 1) {
		t.Fatal("wrong producer evicted")
	}
	d.record("newer", 1, 4)
	if d.seen("p00001", 1) || !d.seen("p00007", 1) {
		t.Fatal("wrong second eviction")
	}
	got := d.copies()
	sortProducers(got)
	if got[0].id != "new" || got[len(got)-1].id != "p09999" {
		t.Fatalf("sorted order starts %q ends %q", got[0].id, got[len(got)-1].id)
	}
}
