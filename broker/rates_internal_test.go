package broker

import (
	"testing"
	"time"
)

// TestRateRing: events count in the 5 s window for 5 seconds and in the
// 60 s window for 60; a bucket reused after rateSlots seconds starts empty.
func TestRateRing(t *testing.T) {
	var r rateRing
	t0 := time.Unix(1_000_000, 0)
	r.at(t0.Unix()).publish += 10
	r.at(t0.Unix() + 3).deliver += 5
	r.at(t0.Unix() + 3).ack += 5
	got := r.rates(t0.Add(4 * time.Second))
	if got.Publish5 != 2 || got.Deliver5 != 1 || got.Ack5 != 1 || got.Publish60 != 10.0/60 || !got.Known {
		t.Fatalf("at +4s: %+v", got)
	}
	if got := r.rates(t0.Add(5 * time.Second)); got.Publish5 != 0 || got.Deliver5 != 1 || got.Publish60 != 10.0/60 {
		t.Fatalf("at +5s: %+v", got)
	}
	if got := r.rates(t0.Add(62 * time.Second)); got.Publish60 != 0 || got.Deliver60 != 5.0/60 {
		t.Fatalf("at +62s: %+v", got)
	}
	r.at(t0.Unix()+rateSlots).publish++ // the slot of t0, reused
	if got := r.rates(t0.Add(rateSlots * time.Second)); got.Publish5 != 0.2 || got.Publish60 != 1.0/60 {
		t.Fatalf("after reuse: %+v", got)
	}
}
