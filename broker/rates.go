package broker

import (
	"context"
	"sync"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// Rates are a queue's message rates, per second, over the last 5 and 60
// seconds, as the leader of its group counted them (node-local counters,
// not replicated: see MessageCounts). Known is false when neither this
// node nor (asked by a listing) the group's leader had them.
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

// MaxRatesQuery bounds the queue ids of one QueueRates call.
const MaxRatesQuery = 10000

// ratesCallTimeout bounds the call to a group's leader for its rates: a
// listing without them is better than a slow one.
const ratesCallTimeout = 2 * time.Second

// LocalQueueRates returns the rates of queues ids of queue group group as
// this node counted them: known only while it leads the group.
func (b *Broker) LocalQueueRates(group string, ids []uint64) []Rates {
	out := make([]Rates, len(ids))
	for _, q := range b.queues {
		if q.name != group || q.disp.Load() == nil {
			continue
		}
		now := time.Now()
		for i, id := range ids {
			out[i] = q.counters.rates(id, now)
		}
	}
	return out
}

// fillRemoteRates asks the leaders of the groups of the queues whose
// rates this node does not know (it does not lead their group), one call
// per group, in parallel; a leader that does not answer in time leaves
// them unknown.
func (b *Broker) fillRemoteRates(ctx context.Context, queues []Queue, ids []uint64) {
	byGroup := map[uint32][]int{}
	for i, q := range queues {
		if !q.Rates.Known {
			byGroup[q.Group] = append(byGroup[q.Group], i)
		}
	}
	var wg sync.WaitGroup
	for g, idx := range byGroup {
		qg, err := b.queueGroup(g)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := b.node.LeaderConn(qg.group)
			if err != nil {
				return
			}
			req := &pb.QueueRatesRequest{Group: qg.name}
			for _, i := range idx {
				req.QueueIds = append(req.QueueIds, ids[i])
			}
			cctx, cancel := context.WithTimeout(ctx, ratesCallTimeout)
			defer cancel()
			r, err := pb.NewNodeServiceClient(conn).QueueRates(cctx, req)
			if err != nil || len(r.GetRates()) != len(idx) {
				return
			}
			for j, i := range idx {
				rr := r.GetRates()[j]
				queues[i].Rates = Rates{
					Known: rr.GetKnown(), Publish5: rr.GetPublish_5S(), Publish60: rr.GetPublish_60S(),
					Deliver5: rr.GetDeliver_5S(), Deliver60: rr.GetDeliver_60S(), Ack5: rr.GetAck_5S(), Ack60: rr.GetAck_60S(),
				}
			}
		}()
	}
	wg.Wait()
}
