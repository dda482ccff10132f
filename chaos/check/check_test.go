package check

import (
	"slices"
	"testing"
	"time"
)

func TestCheckAnomalies(t *testing.T) {
	tests := []struct {
		name       string
		h          *builder
		want       QueueReport // totals
		ok, strict bool
		lost       []string
		unexpected []string
		anomalies  []string
	}{
		{
			name: "lost",
			h:    new(builder).pub("q", "a", 1, OK).pub("q", "b", 2, OK).del("q", "b", false).ack("q", "b", OK),
			want: QueueReport{Attempted: 2, Confirmed: 2, Delivered: 1, Deliveries: 1, Lost: 1},
			lost: []string{"q/a"},
		},
		{
			name:       "unexpected, never published",
			h:          new(builder).pub("q", "a", 1, OK).del("q", "a", false).del("q", "x", false),
			want:       QueueReport{Attempted: 1, Confirmed: 1, Delivered: 2, Deliveries: 2, Unexpected: 1, Unacked: 2},
			unexpected: []string{"q/x"},
		},
		{
			name:       "unexpected, published to another queue",
			h:          new(builder).pub("q1", "a", 1, OK).del("q2", "a", false),
			want:       QueueReport{Attempted: 1, Confirmed: 1, Delivered: 1, Deliveries: 1, Lost: 1, Unexpected: 1, Unacked: 1},
			lost:       []string{"q1/a"},
			unexpected: []string{"q2/a"},
		},
		{
			name:       "failed but delivered",
			h:          new(builder).pub("q", "a", 1, Failed).pub("q", "a", 1, Failed).del("q", "a", false).ack("q", "a", OK),
			want:       QueueReport{Attempted: 1, Failed: 1, Delivered: 1, Deliveries: 1, Unexpected: 1},
			unexpected: []string{"q/a"},
		},
		{
			name: "failed and not delivered",
			h:    new(builder).pub("q", "a", 1, Failed),
			want: QueueReport{Attempted: 1, Failed: 1},
			ok:   true, strict: true,
		},
		{
			name: "duplicated with redelivered flag",
			h: new(builder).pub("q", "a", 1, OK).pub("q", "b", 2, OK).
				del("q", "a", false).del("q", "a", true).del("q", "a", true).ack("q", "a", OK).
				del("q", "b", false).ack("q", "b", OK),
			want: QueueReport{Attempted: 2, Confirmed: 2, Delivered: 2, Deliveries: 4, ExtraDeliveries: 2,
				Duplicated: 1, DuplicatedRedelivered: 1, DuplicateRate: 1},
			ok: true, strict: true,
		},
		{
			name: "duplicated without flag, single publish",
			h:    new(builder).pub("q", "a", 1, OK).del("q", "a", false).del("q", "a", true).del("q", "a", false),
			want: QueueReport{Attempted: 1, Confirmed: 1, Delivered: 1, Deliveries: 3, ExtraDeliveries: 2,
				Duplicated: 1, DuplicatedAnomalies: 1, DuplicatedSinglePublish: 1, DuplicateRate: 2, Unacked: 1},
			ok:        true,
			anomalies: []string{"q/a"},
		},
		{
			name: "duplicated without flag after a workload retry",
			h:    new(builder).pub("q", "a", 1, Unknown).pub("q", "a", 1, OK).del("q", "a", false).del("q", "a", false),
			want: QueueReport{Attempted: 1, Confirmed: 1, Delivered: 1, Deliveries: 2, ExtraDeliveries: 1,
				Duplicated: 1, DuplicatedAnomalies: 1, DuplicateRate: 1, Unacked: 1},
			ok: true, strict: true,
			anomalies: []string{"q/a"},
		},
		{
			name: "recovered, and unknown not delivered is not lost",
			h:    new(builder).pub("q", "a", 1, Unknown).pub("q", "b", 2, Unknown).pub("q", "b", 2, Failed).del("q", "a", false).ack("q", "a", Unknown),
			want: QueueReport{Attempted: 2, Unknown: 2, Delivered: 1, Deliveries: 1, Recovered: 1, Unacked: 1},
			ok:   true, strict: true,
		},
		{
			name: "best outcome wins",
			h: new(builder).pub("q", "a", 1, Failed).pub("q", "a", 1, OK).pub("q", "a", 1, Unknown).
				pub("q", "b", 2, Failed).pub("q", "b", 2, Unknown).del("q", "a", false).ack("q", "a", OK),
			want: QueueReport{Attempted: 2, Confirmed: 1, Unknown: 1, Delivered: 1, Deliveries: 1},
			ok:   true, strict: true,
		},
		{
			name: "redelivered after an ok ack",
			h:    new(builder).pub("q", "a", 1, OK).del("q", "a", false).ack("q", "a", OK).del("q", "a", true).ack("q", "a", Failed),
			want: QueueReport{Attempted: 1, Confirmed: 1, Delivered: 1, Deliveries: 2, ExtraDeliveries: 1,
				Duplicated: 1, DuplicatedRedelivered: 1, DuplicateRate: 1, RedeliveredAfterAck: 1},
			ok: true, strict: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.h.h)
			if got := totals(r); got != tt.want {
				t.Errorf("totals\n got %+v\nwant %+v", got, tt.want)
			}
			if r.OK() != tt.ok || r.Strict() != tt.strict {
				t.Errorf("OK() = %v, Strict() = %v; want %v, %v", r.OK(), r.Strict(), tt.ok, tt.strict)
			}
			for _, ex := range []struct {
				what      string
				got, want []string
			}{{"lost", r.LostIDs, tt.lost}, {"unexpected", r.UnexpectedIDs, tt.unexpected}, {"anomalies", r.AnomalyIDs, tt.anomalies}} {
				if !slices.Equal(ex.got, ex.want) && len(ex.got)+len(ex.want) > 0 {
					t.Errorf("%s ids = %q, want %q", ex.what, ex.got, ex.want)
				}
			}
			checkSums(t, r)
		})
	}
}

func TestCheckCleanHistoryWithRetriesAndQueues(t *testing.T) {
	b := new(builder)
	// m1 and m2 fan out to q1 and q2; m3 goes to q1 only. Retries: m1 was
	// Unknown then OK, m2 Failed then OK on q2 (and OK at once on q1).
	b.pub("q1", "m1", 1, Unknown).pub("q2", "m1", 1, Unknown).
		pub("q1", "m1", 1, OK).pub("q2", "m1", 1, OK).
		pub("q1", "m2", 2, OK).pub("q2", "m2", 2, Failed).pub("q2", "m2", 2, OK).
		pub("q1", "m3", 3, OK)
	for _, d := range []key{{"q2", "m2"}, {"q1", "m1"}, {"q1", "m3"}, {"q2", "m1"}, {"q1", "m2"}} {
		b.del(d.queue, d.id, false).ack(d.queue, d.id, OK)
	}
	r := Check(b.h)
	want := QueueReport{Attempted: 5, Confirmed: 5, Delivered: 5, Deliveries: 5}
	if got := totals(r); got != want {
		t.Errorf("totals\n got %+v\nwant %+v", got, want)
	}
	wantQ := map[string]QueueReport{
		"q1": {Attempted: 3, Confirmed: 3, Delivered: 3, Deliveries: 3},
		"q2": {Attempted: 2, Confirmed: 2, Delivered: 2, Deliveries: 2},
	}
	if len(r.Queues) != len(wantQ) {
		t.Errorf("queues = %v, want q1 and q2", r.Queues)
	}
	for q, w := range wantQ {
		if got := r.Queues[q]; got != w {
			t.Errorf("queue %s\n got %+v\nwant %+v", q, got, w)
		}
	}
	if !r.OK() || !r.Strict() {
		t.Errorf("clean history: OK() = %v, Strict() = %v", r.OK(), r.Strict())
	}
	if r.AcksOK != 5 || r.AcksUnknown != 0 || r.AcksFailed != 0 {
		t.Errorf("acks ok/unknown/failed = %d/%d/%d, want 5/0/0", r.AcksOK, r.AcksUnknown, r.AcksFailed)
	}
	if len(r.LostIDs)+len(r.UnexpectedIDs)+len(r.AnomalyIDs)+len(r.OrderIDs) != 0 {
		t.Errorf("examples in a clean report: %+v", r)
	}
	checkSums(t, r)
}

func TestCheckOrder(t *testing.T) {
	// Each case publishes seq 1..n as ids "1".."n" (outcomes by seq, OK by
	// default) to the ordered queue "o", then delivers as listed: a
	// trailing "r" marks the copy redelivered.
	tests := []struct {
		name       string
		unknown    []int // seqs whose publish outcome is Unknown
		deliveries []string
		want       int
		examples   []string
		anomaly    bool // an unflagged duplicate also fails Strict
	}{
		{name: "in order", deliveries: []string{"1", "2", "3", "4"}},
		{name: "one late", deliveries: []string{"1", "3", "2", "4"}, want: 1, examples: []string{"o/2"}},
		{name: "two late", deliveries: []string{"3", "4", "1", "2"}, want: 2, examples: []string{"o/1", "o/2"}},
		{name: "returned message redelivered late", deliveries: []string{"1", "2", "3", "2r", "4"}},
		{name: "first seen copy flagged", deliveries: []string{"1", "3", "2r", "4"}},
		{name: "unflagged duplicate is not a first delivery", deliveries: []string{"1", "2", "3", "2", "4"}, anomaly: true},
		{name: "unknown outcome late", unknown: []int{2}, deliveries: []string{"1", "3", "2", "4"}},
		{name: "unknown outcome raises the mark", unknown: []int{3}, deliveries: []string{"1", "3", "2", "4"}, want: 1, examples: []string{"o/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := new(builder).ordered("o").ordered("o")
			for seq := uint64(1); seq <= 4; seq++ {
				o := OK
				if slices.Contains(tt.unknown, int(seq)) {
					o = Unknown
				}
				b.pub("o", string(rune('0'+seq)), seq, o)
			}
			// An unordered queue with the same ids out of order is not checked.
			b.pub("u", "2", 2, OK).pub("u", "1", 1, OK).del("u", "2", false).del("u", "1", false)
			for _, d := range tt.deliveries {
				id, flag := d[:1], len(d) > 1
				b.del("o", id, flag)
			}
			r := Check(b.h)
			if got := r.OrderViolations; len(got) != 1 || got["o"] != tt.want {
				t.Errorf("OrderViolations = %v, want map[o:%d]", got, tt.want)
			}
			if q := r.Queues["o"]; !q.Ordered || q.OrderViolations != tt.want {
				t.Errorf("queue o: Ordered %v, OrderViolations %d; want true, %d", q.Ordered, q.OrderViolations, tt.want)
			}
			if r.Queues["u"].Ordered {
				t.Error("queue u reported as ordered")
			}
			if !slices.Equal(r.OrderIDs, tt.examples) && len(r.OrderIDs)+len(tt.examples) > 0 {
				t.Errorf("OrderIDs = %q, want %q", r.OrderIDs, tt.examples)
			}
			if r.Strict() != (tt.want == 0 && !tt.anomaly) || !r.OK() {
				t.Errorf("OK() = %v, Strict() = %v with %d violations", r.OK(), r.Strict(), tt.want)
			}
		})
	}
}

func TestCheckOrderPerProducer(t *testing.T) {
	// Two producers interleave on one ordered queue: each is checked
	// against its own high-water mark only.
	b := new(builder).ordered("o")
	add := func(producer, id string, seq uint64) {
		b.h.Publishes = append(b.h.Publishes, Publish{Queue: "o", ID: id, Producer: producer, Seq: seq, Outcome: OK})
	}
	add("a", "a1", 1)
	add("a", "a2", 2)
	add("b", "b1", 10)
	add("b", "b2", 20)
	for _, id := range []string{"b1", "a1", "b2", "a2"} {
		b.del("o", id, false)
	}
	if r := Check(b.h); r.OrderViolations["o"] != 0 {
		t.Errorf("interleaved producers: %d violations, want 0", r.OrderViolations["o"])
	}
	b.del("o", "x", false) // unexpected: takes no part in the order check
	add("a", "a0", 0)
	b.del("o", "a0", false)
	if r := Check(b.h); r.OrderViolations["o"] != 1 || r.Unexpected != 1 {
		t.Errorf("late a0: %d violations, %d unexpected; want 1, 1", r.OrderViolations["o"], r.Unexpected)
	}
}

func TestCheckDuplicatesDuringFaults(t *testing.T) {
	s := time.Second
	b := new(builder)
	b.h.FaultSlack = 5 * s
	b.h.Faults = []FaultWindow{
		{Name: "kill n2", Start: 10 * s, End: 20 * s},   // covers [10s, 25s)
		{Name: "pause n1", Start: 40 * s, End: 39 * s},  // instant: [40s, 45s)
		{Name: "partition", Start: 100 * s, Open: true}, // never healed
		{Name: "kill n3", Start: 12 * s, End: 14 * s},   // inside the first
	}
	// One message per extra copy time; its first copy at 1s is outside.
	extra := []struct {
		at     time.Duration
		inside bool
	}{
		{5 * s, false}, {10 * s, true}, {15 * s, true}, {24 * s, true}, {25 * s, false},
		{39 * s, false}, {40 * s, true}, {44 * s, true}, {45 * s, false},
		{99 * s, false}, {100 * s, true}, {1000 * time.Hour, true},
	}
	want := 0
	for i, e := range extra {
		id := string(rune('a' + i))
		b.pub("q", id, uint64(i), OK)
		b.delAt("q", id, false, s, uint64(1000+2*i))
		b.delAt("q", id, true, e.at, uint64(1001+2*i))
		if e.inside {
			want++
		}
	}
	r := Check(b.h)
	if r.DuplicatesDuringFaults != want || r.Faults != 4 || r.FaultSlack != 5*s {
		t.Errorf("DuplicatesDuringFaults %d, Faults %d, FaultSlack %v; want %d, 4, 5s", r.DuplicatesDuringFaults, r.Faults, r.FaultSlack, want)
	}
	if r.Duplicated != len(extra) || r.DuplicatedRedelivered != len(extra) {
		t.Errorf("Duplicated %d, DuplicatedRedelivered %d; want %d", r.Duplicated, r.DuplicatedRedelivered, len(extra))
	}
	b.h.FaultSlack = 0
	if r := Check(b.h); r.FaultSlack != DefaultFaultSlack {
		t.Errorf("zero slack gives %v, want DefaultFaultSlack", r.FaultSlack)
	}
}

func TestCheckExamplesCapped(t *testing.T) {
	b := new(builder)
	for i := range 3 * MaxExamples {
		b.pub("q", string(rune('A'+i)), uint64(i), OK)
	}
	r := Check(b.h)
	if r.Lost != 3*MaxExamples || len(r.LostIDs) != MaxExamples || !slices.IsSorted(r.LostIDs) || r.LostIDs[0] != "q/A" {
		t.Errorf("Lost %d, LostIDs %q: want %d lost, %d sorted examples from q/A", r.Lost, r.LostIDs, 3*MaxExamples, MaxExamples)
	}
}

func TestCheckEmpty(t *testing.T) {
	r := Check(History{})
	if !r.OK() || !r.Strict() || r.Attempted != 0 || r.DuplicateRate != 0 || len(r.Queues) != 0 {
		t.Errorf("empty history: %+v", r)
	}
}

func TestCheckIndexOrder(t *testing.T) {
	// Slices out of Index order are put in order: the unflagged copy with
	// the lower Index is the first delivery, so the flagged one is the
	// only extra copy.
	h := History{
		Publishes: []Publish{{Index: 0, Queue: "q", ID: "a", Outcome: OK}},
		Deliveries: []Delivery{
			{Index: 5, Queue: "q", ID: "a", Redelivered: true},
			{Index: 2, Queue: "q", ID: "a"},
		},
	}
	if r := Check(h); r.DuplicatedRedelivered != 1 || r.DuplicatedAnomalies != 0 {
		t.Errorf("DuplicatedRedelivered %d, DuplicatedAnomalies %d; want 1, 0", r.DuplicatedRedelivered, r.DuplicatedAnomalies)
	}
}
