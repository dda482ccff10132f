package check

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRecorderConcurrent(t *testing.T) {
	const workers, perWorker = 8, 500
	rec := NewRecorder()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		// Snapshots and checks taken while recording must be consistent.
		defer close(readerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h := rec.History()
			if r := Check(h); r.Unexpected != 0 && len(h.Publishes) == workers*perWorker {
				t.Errorf("snapshot %d: %d unexpected with every publish recorded", i, r.Unexpected)
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("q%d", w%3)
			producer := fmt.Sprintf("p%d", w)
			rec.Ordered(q)
			rec.Fault(fmt.Sprintf("fault %d", w), time.Now(), time.Now())
			for i := range perWorker {
				id := fmt.Sprintf("%d-%d", w, i)
				rec.Published(q, id, producer, uint64(i), OK)
				rec.Delivered(q, id, producer, false)
				rec.Acked(q, id, producer, OK)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-readerDone

	h := rec.History()
	n := workers * perWorker
	if len(h.Publishes) != n || len(h.Deliveries) != n || len(h.Acks) != n || len(h.Faults) != workers {
		t.Fatalf("recorded %d publishes, %d deliveries, %d acks, %d faults; want %d, %d, %d, %d",
			len(h.Publishes), len(h.Deliveries), len(h.Acks), len(h.Faults), n, n, n, workers)
	}
	if !reflect.DeepEqual(h.Ordered, []string{"q0", "q1", "q2"}) {
		t.Errorf("Ordered = %q, want q0 q1 q2 once each", h.Ordered)
	}
	// Index is unique over all kinds and increases with time in each slice.
	seen := make(map[uint64]bool, 3*n)
	check := func(kind string, i uint64, at time.Duration, prevI *uint64, prevAt *time.Duration, first bool) {
		if seen[i] {
			t.Fatalf("%s: index %d used twice", kind, i)
		}
		seen[i] = true
		if !first && (i <= *prevI || at < *prevAt) {
			t.Fatalf("%s: index %d at %v after index %d at %v", kind, i, at, *prevI, *prevAt)
		}
		*prevI, *prevAt = i, at
	}
	var pi uint64
	var pa time.Duration
	for j, p := range h.Publishes {
		check("publish", p.Index, p.At, &pi, &pa, j == 0)
	}
	for j, d := range h.Deliveries {
		check("delivery", d.Index, d.At, &pi, &pa, j == 0)
	}
	for j, a := range h.Acks {
		check("ack", a.Index, a.At, &pi, &pa, j == 0)
	}
	r := Check(h)
	if !r.OK() || !r.Strict() || r.Confirmed != n || r.Delivered != n || r.AcksOK != n || r.Unacked != 0 {
		t.Errorf("report of a clean concurrent run: %+v", r)
	}
	for _, q := range []string{"q0", "q1", "q2"} {
		if v, ok := r.OrderViolations[q]; !ok || v != 0 {
			t.Errorf("queue %s: order violations %d (checked %v), want 0 (checked)", q, v, ok)
		}
	}
}

func TestRecorderHistoryIsSnapshot(t *testing.T) {
	rec := NewRecorder()
	rec.Published("q", "a", "p", 1, OK)
	h := rec.History()
	rec.Published("q", "b", "p", 2, OK)
	rec.Delivered("q", "a", "c", false)
	if len(h.Publishes) != 1 || len(h.Deliveries) != 0 {
		t.Errorf("snapshot changed after later recording: %d publishes, %d deliveries", len(h.Publishes), len(h.Deliveries))
	}
}

func TestRecorderFaultTimes(t *testing.T) {
	rec := NewRecorder()
	start := time.Now()
	rec.Fault("kill n2", start, start.Add(time.Second))
	rec.Fault("partition", start, time.Time{})
	rec.SetFaultSlack(time.Minute)
	h := rec.History()
	f := h.Faults
	if f[0].End-f[0].Start != time.Second || f[0].Open || f[0].Start < 0 {
		t.Errorf("fault 0 = %+v, want a 1s window from a non-negative start", f[0])
	}
	if !f[1].Open {
		t.Errorf("fault with zero end = %+v, want Open", f[1])
	}
	if h.FaultSlack != time.Minute || Check(h).FaultSlack != time.Minute {
		t.Errorf("FaultSlack = %v, want 1m", h.FaultSlack)
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	rec := NewRecorder()
	rec.Ordered("o")
	start := time.Now()
	rec.Published("o", "1", "p", 1, OK)
	rec.Published("o", "2", "p", 2, Unknown)
	rec.Published("o", "3", "p", 3, OK)
	rec.Published("q", "1", "p", 1, Failed)
	rec.Published("q", "lost", "p", 9, OK)
	rec.Delivered("o", "1", "c", false)
	rec.Delivered("o", "3", "c", false)
	rec.Delivered("o", "2", "c", false)
	rec.Delivered("o", "1", "c", true)
	rec.Delivered("q", "1", "c", false)
	rec.Acked("o", "1", "c", OK)
	rec.Acked("o", "3", "c", Unknown)
	rec.Fault("kill n2", start, time.Now())
	rec.Fault("partition", time.Now(), time.Time{})
	h := rec.History()
	want := Check(h)

	b, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back History
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	got := Check(back)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report after JSON round trip differs\n got %+v\nwant %+v", got, want)
	}
	if want.Lost != 1 || want.Unexpected != 1 || want.Recovered != 1 || want.DuplicatedRedelivered != 1 || want.Faults != 2 {
		t.Errorf("history meant to exercise every count gave %+v", want)
	}
	if !strings.Contains(string(b), `"o":"unknown"`) {
		t.Errorf("outcomes are not written as text: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"publishes":[{"q":"q","id":"a","o":"maybe"}]}`), &back); err == nil {
		t.Error("an invalid outcome was accepted")
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Unknown: "unknown", OK: "ok", Failed: "failed", 7: "outcome(7)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", uint8(o), got, want)
		}
	}
	if _, err := Outcome(7).MarshalText(); err == nil {
		t.Error("MarshalText accepted an invalid outcome")
	}
	// An out-of-range outcome is read as Unknown: never confirmed, never failed.
	r := Check(History{Publishes: []Publish{{Queue: "q", ID: "a", Outcome: 9}}})
	if r.Unknown != 1 || r.Lost != 0 {
		t.Errorf("invalid outcome: Unknown %d, Lost %d; want 1, 0", r.Unknown, r.Lost)
	}
}
