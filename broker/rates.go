package broker

import "time"

// Rates are a queue's message rates, per second, over the last 5 and 60
// seconds, as the leader of its group counted them (node-local counters,
// not replicated: see MessageCounts). Known is false when the node that
// answered does not lead the queue's group, whose counters are elsewhere.
type Rates struct {
	Known               bool
	Publish5, Publish60 float64
	Deliver5, Deliver60 float64
	Ack5, Ack60         float64
}

// rateSlots is how many one-second buckets a rateRing keeps: more than the
// longest window, so a bucket is never reused within it.
const rateSlots = 64

// rateBucket counts one second's events.
type rateBucket struct {
	sec                   int64
	publish, deliver, ack uint64
}

// rateRing counts events per second over the last rateSlots seconds.
type rateRing struct {
	b [rateSlots]rateBucket
}

// at returns the bucket of second sec, emptied if it held an older one.
func (r *rateRing) at(sec int64) *rateBucket {
	b := &r.b[sec%rateSlots]
	if b.sec != sec {
		*b = rateBucket{sec: sec}
	}
	return b
}

// rates sums the buckets of the last 5 and 60 seconds up to now (the
// current second included) and divides by the window.
func (r *rateRing) rates(now time.Time) Rates {
	sec := now.Unix()
	var p5, d5, a5, p60, d60, a60 uint64
	for i := range r.b {
		b := &r.b[i]
		age := sec - b.sec
		if age < 0 || age >= 60 {
			continue
		}
		p60, d60, a60 = p60+b.publish, d60+b.deliver, a60+b.ack
		if age < 5 {
			p5, d5, a5 = p5+b.publish, d5+b.deliver, a5+b.ack
		}
	}
	return Rates{
		Known:    true,
		Publish5: float64(p5) / 5, Deliver5: float64(d5) / 5, Ack5: float64(a5) / 5,
		Publish60: float64(p60) / 60, Deliver60: float64(d60) / 60, Ack60: float64(a60) / 60,
	}
}
