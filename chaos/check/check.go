package check

import (
	"cmp"
	"slices"
)

// msg is what Check learns about one message identity (queue, id).
type msg struct {
	attempts  int     // Published records
	outcome   Outcome // best outcome over the attempts
	producer  string  // from the first attempt
	seq       uint64  // from the first attempt
	copies    int     // deliveries
	first     int     // position of the first delivery in Index order
	unflagged bool    // an extra copy was not flagged redelivered
	inFault   int     // extra copies inside a fault window (+ slack)
	afterAck  int     // copies delivered after an OK ack
	acked     bool    // an OK ack was recorded
	ackIndex  uint64  // Index of the earliest OK ack
}

// Check computes the Report of h. It is a pure, deterministic function of
// h: events are ordered by Index (stably, so slice order breaks ties), and
// nothing in the Report depends on map iteration order. See the package
// documentation for the definitions.
func Check(h History) Report {
	slack := h.FaultSlack
	if slack <= 0 {
		slack = DefaultFaultSlack
	}
	pubs := byIndex(h.Publishes, func(p Publish) uint64 { return p.Index })
	dels := byIndex(h.Deliveries, func(d Delivery) uint64 { return d.Index })
	acks := byIndex(h.Acks, func(a Ack) uint64 { return a.Index })

	msgs := make(map[key]*msg)
	get := func(k key) *msg {
		m := msgs[k]
		if m == nil {
			m = &msg{}
			msgs[k] = m
		}
		return m
	}
	for _, p := range pubs {
		m := get(key{p.Queue, p.ID})
		m.attempts++
		if m.attempts == 1 {
			m.outcome, m.producer, m.seq = p.Outcome.normal(), p.Producer, p.Seq
		} else if p.Outcome.better(m.outcome) {
			m.outcome = p.Outcome.normal()
		}
	}

	r := Report{
		Faults:          len(h.Faults),
		FaultSlack:      slack,
		OrderViolations: make(map[string]int),
		Queues:          make(map[string]QueueReport),
	}
	for _, a := range acks {
		switch a.Outcome.normal() {
		case OK:
			r.AcksOK++
			m := get(key{a.Queue, a.ID})
			if !m.acked {
				m.acked, m.ackIndex = true, a.Index
			}
		case Failed:
			r.AcksFailed++
		default:
			r.AcksUnknown++
		}
	}

	faults := newWindows(h.Faults, slack)
	for i, d := range dels {
		m := get(key{d.Queue, d.ID})
		m.copies++
		if m.copies == 1 {
			m.first = i
		} else {
			if !d.Redelivered {
				m.unflagged = true
			}
			if faults.cover(d.At) {
				m.inFault++
			}
		}
		if m.acked && d.Index > m.ackIndex {
			m.afterAck++
		}
	}

	var lost, unexpected, anomalies []key
	for k, m := range msgs {
		q := r.Queues[k.queue]
		if m.attempts > 0 {
			q.Attempted++
			switch m.outcome {
			case OK:
				q.Confirmed++
			case Failed:
				q.Failed++
			default:
				q.Unknown++
			}
		}
		if m.copies > 0 {
			q.Delivered++
			q.Deliveries += m.copies
			q.ExtraDeliveries += m.copies - 1
			if !m.acked {
				q.Unacked++
			}
		}
		q.RedeliveredAfterAck += m.afterAck
		switch {
		case m.outcome == OK && m.attempts > 0 && m.copies == 0:
			q.Lost++
			lost = append(lost, k)
		case m.copies > 0 && (m.attempts == 0 || m.outcome == Failed):
			q.Unexpected++
			unexpected = append(unexpected, k)
		case m.copies > 0 && m.outcome == Unknown:
			q.Recovered++
		}
		if m.copies > 1 {
			q.Duplicated++
			q.DuplicatesDuringFaults += m.inFault
			if m.unflagged {
				q.DuplicatedAnomalies++
				anomalies = append(anomalies, k)
				if m.attempts == 1 {
					q.DuplicatedSinglePublish++
				}
			} else {
				q.DuplicatedRedelivered++
			}
		}
		r.Queues[k.queue] = q
	}

	ordered := slices.Clone(h.Ordered)
	slices.Sort(ordered)
	ordered = slices.Compact(ordered)
	var outOfOrder []key
	for _, queue := range ordered {
		bad := checkOrder(queue, dels, msgs)
		outOfOrder = append(outOfOrder, bad...)
		r.OrderViolations[queue] = len(bad)
		q := r.Queues[queue]
		q.Ordered = true
		q.OrderViolations = len(bad)
		r.Queues[queue] = q
	}

	for name, q := range r.Queues {
		q.DuplicateRate = rate(q.ExtraDeliveries, q.Delivered)
		r.Queues[name] = q
		r.add(q)
	}
	r.DuplicateRate = rate(r.ExtraDeliveries, r.Delivered)
	r.LostIDs = examples(lost)
	r.UnexpectedIDs = examples(unexpected)
	r.AnomalyIDs = examples(anomalies)
	r.OrderIDs = examples(outOfOrder)
	return r
}

// checkOrder returns the order violations of an Ordered queue: first
// deliveries (the first copy of a message, not flagged redelivered) of a
// confirmed message whose seq is below the highest seq already
// first-delivered from the same producer. Messages not published to the
// queue, or only Failed, take no part (they are Unexpected); messages with
// an Unknown outcome raise the high-water mark but are never violations,
// because their publish may have taken effect after later ones.
func checkOrder(queue string, dels []Delivery, msgs map[key]*msg) []key {
	high := make(map[string]uint64) // producer → highest seq first-delivered
	var bad []key
	for i, d := range dels {
		if d.Queue != queue || d.Redelivered {
			continue
		}
		k := key{d.Queue, d.ID}
		m := msgs[k]
		if i != m.first || m.attempts == 0 || m.outcome == Failed {
			continue
		}
		h, seen := high[m.producer]
		if seen && m.seq < h && m.outcome == OK {
			bad = append(bad, k)
		}
		if !seen || m.seq > h {
			high[m.producer] = m.seq
		}
	}
	return bad
}

// byIndex returns a copy of events ordered by Index, stably.
func byIndex[E any](events []E, index func(E) uint64) []E {
	out := slices.Clone(events)
	slices.SortStableFunc(out, func(a, b E) int { return cmp.Compare(index(a), index(b)) })
	return out
}

// examples returns at most MaxExamples of ks, sorted, as "queue/id".
func examples(ks []key) []string {
	slices.SortFunc(ks, func(a, b key) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
	ks = ks[:min(len(ks), MaxExamples)]
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}
