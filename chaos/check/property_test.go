package check

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// model is what the generator knows about the history it drew.
type model struct {
	attempted, confirmed, unknown, failed int
	delivered, deliveries, duplicated     int
	recovered                             int
	confirmedKeys                         []key
}

// drawCorrectHistory records, through a Recorder, a random history that a
// correct broker could produce: fanout publishes with retries, every
// confirmed message delivered at least once, some Unknown ones delivered,
// no Failed one delivered, extra copies always flagged redelivered, and an
// ordered queue delivered in seq order.
func drawCorrectHistory(t *rapid.T) (History, model) {
	rec := NewRecorder()
	var m model
	queues := []string{"q1", "q2", "q3"}
	var copies []key
	n := rapid.IntRange(0, 40).Draw(t, "messages")
	for i := range n {
		id := fmt.Sprintf("m%d", i)
		targets := rapid.SliceOfNDistinct(rapid.SampledFrom(queues), 1, len(queues), rapid.ID[string]).Draw(t, "targets")
		for _, q := range targets {
			outcomes := rapid.SliceOfN(rapid.SampledFrom([]Outcome{OK, Unknown, Failed}), 1, 3).Draw(t, "attempts")
			best := outcomes[0]
			for _, o := range outcomes {
				rec.Published(q, id, "p", uint64(i), o)
				if o.better(best) {
					best = o
				}
			}
			k := key{q, id}
			m.attempted++
			n := 0
			switch best {
			case OK:
				m.confirmed++
				m.confirmedKeys = append(m.confirmedKeys, k)
				n = rapid.IntRange(1, 3).Draw(t, "copies")
			case Unknown:
				m.unknown++
				n = rapid.IntRange(0, 2).Draw(t, "copies")
				if n > 0 {
					m.recovered++
				}
			default:
				m.failed++
			}
			if n > 0 {
				m.delivered++
				m.deliveries += n
			}
			if n > 1 {
				m.duplicated++
			}
			for range n {
				copies = append(copies, k)
			}
		}
	}
	// Deliver in a random order; the first copy of each message seen is
	// the unflagged one, every later copy is flagged.
	copies = rapid.Permutation(copies).Draw(t, "order")
	seen := make(map[key]bool)
	for _, k := range copies {
		rec.Delivered(k.queue, k.id, "c", seen[k])
		seen[k] = true
		if rapid.Bool().Draw(t, "ack") {
			rec.Acked(k.queue, k.id, "c", rapid.SampledFrom([]Outcome{OK, Unknown, Failed}).Draw(t, "ackOutcome"))
		}
	}
	// The ordered queue: seq order, with returned copies redelivered later.
	rec.Ordered("ord")
	var returned []string
	for seq := range rapid.IntRange(0, 15).Draw(t, "ordered") {
		id := fmt.Sprintf("o%d", seq)
		rec.Published("ord", id, "op", uint64(seq), OK)
		rec.Delivered("ord", id, "oc", false)
		m.attempted++
		m.confirmed++
		m.confirmedKeys = append(m.confirmedKeys, key{"ord", id})
		m.delivered++
		m.deliveries++
		if rapid.IntRange(0, 3).Draw(t, "return") == 0 {
			returned = append(returned, id)
		}
		if len(returned) > 0 && rapid.Bool().Draw(t, "redeliverNow") {
			rec.Delivered("ord", returned[0], "oc", true)
			returned = returned[1:]
			m.deliveries++
			m.duplicated++
		}
	}
	return rec.History(), m
}

func TestCheckPropertyCorrectHistory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h, m := drawCorrectHistory(t)
		r := Check(h)
		want := QueueReport{
			Attempted: m.attempted, Confirmed: m.confirmed, Unknown: m.unknown, Failed: m.failed,
			Delivered: m.delivered, Deliveries: m.deliveries, ExtraDeliveries: m.deliveries - m.delivered,
			Duplicated: m.duplicated, DuplicatedRedelivered: m.duplicated, Recovered: m.recovered,
		}
		got := totals(r)
		got.DuplicateRate, got.Unacked, got.RedeliveredAfterAck = 0, 0, 0
		if got != want {
			t.Fatalf("totals\n got %+v\nwant %+v", got, want)
		}
		if !r.OK() || !r.Strict() || r.Lost != 0 || r.Unexpected != 0 {
			t.Fatalf("correct history judged wrong: %+v", r)
		}
		if !reflect.DeepEqual(r, Check(h)) {
			t.Fatal("Check is not deterministic")
		}

		// The slices' order does not matter, only Index does.
		shuffled := h
		shuffled.Publishes = rapid.Permutation(h.Publishes).Draw(t, "pubs")
		shuffled.Deliveries = rapid.Permutation(h.Deliveries).Draw(t, "dels")
		shuffled.Acks = rapid.Permutation(h.Acks).Draw(t, "acks")
		if !reflect.DeepEqual(r, Check(shuffled)) {
			t.Fatal("report depends on slice order beyond Index")
		}

		if len(m.confirmedKeys) == 0 {
			return
		}
		// Deleting every delivery of one confirmed message loses exactly it.
		victim := rapid.SampledFrom(m.confirmedKeys).Draw(t, "victim")
		cut := h
		cut.Deliveries = slices.DeleteFunc(slices.Clone(h.Deliveries), func(d Delivery) bool {
			return d.Queue == victim.queue && d.ID == victim.id
		})
		rc := Check(cut)
		if rc.Lost != 1 || !slices.Equal(rc.LostIDs, []string{victim.String()}) || rc.OK() || rc.Unexpected != 0 {
			t.Fatalf("after deleting %s: Lost %d %q, Unexpected %d, OK %v", victim, rc.Lost, rc.LostIDs, rc.Unexpected, rc.OK())
		}
	})
}
