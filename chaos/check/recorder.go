package check

import (
	"slices"
	"sync"
	"time"
)

// Recorder collects a History. All methods are safe for concurrent use and
// cheap (a mutex, a clock read and an append), so the workload can record
// every event of a run of millions of messages.
//
// Each event is stamped under the mutex with the next Index and with the
// time since NewRecorder on the monotonic clock, so Index order and time
// order agree.
type Recorder struct {
	mu    sync.Mutex
	start time.Time // carries a monotonic reading
	next  uint64
	h     History
	seen  map[string]bool // ordered queues
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder {
	now := time.Now()
	return &Recorder{
		start: now,
		h:     History{Version: HistoryVersion, Start: now.Round(0)},
		seen:  make(map[string]bool),
	}
}

// stamp returns the next index and the current offset; r.mu must be held.
func (r *Recorder) stamp() (uint64, time.Duration) {
	i := r.next
	r.next++
	return i, time.Since(r.start)
}

// Published records one publish attempt of message id to queue. The same id
// may be recorded again when the workload retried it; Check keeps the best
// outcome (OK > Unknown > Failed). producer and seq give the producer's
// order: seq must increase with the order in which the producer invoked its
// publishes.
func (r *Recorder) Published(queue, id, producer string, seq uint64, o Outcome) {
	r.mu.Lock()
	i, at := r.stamp()
	r.h.Publishes = append(r.h.Publishes, Publish{Index: i, At: at, Queue: queue, ID: id, Producer: producer, Seq: seq, Outcome: o})
	r.mu.Unlock()
}

// Delivered records that consumer received id from queue, with the broker's
// redelivered flag. Call it as soon as the delivery arrives: its time and
// order matter for fault classification and the order check.
func (r *Recorder) Delivered(queue, id, consumer string, redelivered bool) {
	r.mu.Lock()
	i, at := r.stamp()
	r.h.Deliveries = append(r.h.Deliveries, Delivery{Index: i, At: at, Queue: queue, ID: id, Consumer: consumer, Redelivered: redelivered})
	r.mu.Unlock()
}

// Acked records the outcome of consumer's ack of its delivery of id from
// queue.
func (r *Recorder) Acked(queue, id, consumer string, o Outcome) {
	r.mu.Lock()
	i, at := r.stamp()
	r.h.Acks = append(r.h.Acks, Ack{Index: i, At: at, Queue: queue, ID: id, Consumer: consumer, Outcome: o})
	r.mu.Unlock()
}

// Ordered declares that queue has one producer publishing sequentially and
// one consumer with prefetch 1, so its first deliveries must follow the
// producer's seq order. Declaring a queue twice is harmless.
func (r *Recorder) Ordered(queue string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[queue] {
		return
	}
	r.seen[queue] = true
	r.h.Ordered = append(r.h.Ordered, queue)
}

// Fault records a fault window [start, end) named name (like "kill n2").
// A zero end records a fault that never healed. start and end should come
// from time.Now in this process, so that they compare on the monotonic clock
// with the recorder's own times.
func (r *Recorder) Fault(name string, start, end time.Time) {
	w := FaultWindow{Name: name, Start: start.Sub(r.start)}
	if end.IsZero() {
		w.Open = true
	} else {
		w.End = end.Sub(r.start)
	}
	r.mu.Lock()
	r.h.Faults = append(r.h.Faults, w)
	r.mu.Unlock()
}

// SetFaultSlack sets how long after a fault window ends a duplicate still
// counts as caused by the fault; zero restores DefaultFaultSlack.
func (r *Recorder) SetFaultSlack(d time.Duration) {
	r.mu.Lock()
	r.h.FaultSlack = d
	r.mu.Unlock()
}

// History returns a snapshot of everything recorded so far; later recording
// does not change it.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h
	h.Ordered = slices.Clone(h.Ordered)
	slices.Sort(h.Ordered)
	h.Faults = slices.Clone(h.Faults)
	h.Publishes = slices.Clone(h.Publishes)
	h.Deliveries = slices.Clone(h.Deliveries)
	h.Acks = slices.Clone(h.Acks)
	return h
}
