package check

import (
	"testing"
	"time"
)

// builder makes hand-made histories: each event gets the next Index and,
// unless given, a time of Index milliseconds.
type builder struct {
	h    History
	next uint64
}

func (b *builder) stamp() (uint64, time.Duration) {
	i := b.next
	b.next++
	return i, time.Duration(i) * time.Millisecond
}

// pub records a publish attempt by producer "p".
func (b *builder) pub(q, id string, seq uint64, o Outcome) *builder {
	i, at := b.stamp()
	b.h.Publishes = append(b.h.Publishes, Publish{Index: i, At: at, Queue: q, ID: id, Producer: "p", Seq: seq, Outcome: o})
	return b
}

// del records a delivery to consumer "c".
func (b *builder) del(q, id string, redelivered bool) *builder {
	i, at := b.stamp()
	return b.delAt(q, id, redelivered, at, i)
}

// delAt records a delivery at a given time.
func (b *builder) delAt(q, id string, redelivered bool, at time.Duration, i uint64) *builder {
	b.h.Deliveries = append(b.h.Deliveries, Delivery{Index: i, At: at, Queue: q, ID: id, Consumer: "c", Redelivered: redelivered})
	return b
}

// ack records an ack outcome of consumer "c".
func (b *builder) ack(q, id string, o Outcome) *builder {
	i, at := b.stamp()
	b.h.Acks = append(b.h.Acks, Ack{Index: i, At: at, Queue: q, ID: id, Consumer: "c", Outcome: o})
	return b
}

func (b *builder) ordered(q string) *builder {
	b.h.Ordered = append(b.h.Ordered, q)
	return b
}

// totals projects the report's totals onto a QueueReport so a test can
// state every count at once.
func totals(r Report) QueueReport {
	return QueueReport{
		Attempted:               r.Attempted,
		Confirmed:               r.Confirmed,
		Failed:                  r.Failed,
		Unknown:                 r.Unknown,
		Delivered:               r.Delivered,
		Deliveries:              r.Deliveries,
		Lost:                    r.Lost,
		Unexpected:              r.Unexpected,
		Duplicated:              r.Duplicated,
		DuplicatedRedelivered:   r.DuplicatedRedelivered,
		DuplicatedAnomalies:     r.DuplicatedAnomalies,
		DuplicatedSinglePublish: r.DuplicatedSinglePublish,
		DuplicatesDuringFaults:  r.DuplicatesDuringFaults,
		ExtraDeliveries:         r.ExtraDeliveries,
		Recovered:               r.Recovered,
		DuplicateRate:           r.DuplicateRate,
		Unacked:                 r.Unacked,
		RedeliveredAfterAck:     r.RedeliveredAfterAck,
	}
}

// checkSums fails when the per-queue reports do not add up to the totals or
// the outcome counts do not add up to Attempted.
func checkSums(t *testing.T, r Report) {
	t.Helper()
	var sum Report
	for _, q := range r.Queues {
		sum.add(q)
	}
	got, want := totals(sum), totals(r)
	got.DuplicateRate, want.DuplicateRate = 0, 0
	if got != want {
		t.Errorf("queues add up to %+v, totals are %+v", got, want)
	}
	if r.Confirmed+r.Unknown+r.Failed != r.Attempted {
		t.Errorf("confirmed %d + unknown %d + failed %d != attempted %d", r.Confirmed, r.Unknown, r.Failed, r.Attempted)
	}
	if r.Deliveries-r.Delivered != r.ExtraDeliveries {
		t.Errorf("deliveries %d - delivered %d != extra %d", r.Deliveries, r.Delivered, r.ExtraDeliveries)
	}
	if r.DuplicatedRedelivered+r.DuplicatedAnomalies != r.Duplicated {
		t.Errorf("duplicated %d != redelivered %d + anomalies %d", r.Duplicated, r.DuplicatedRedelivered, r.DuplicatedAnomalies)
	}
}
