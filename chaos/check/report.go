package check

import "time"

// MaxExamples is the most example ids a Report lists per kind of finding.
const MaxExamples = 20

// Report is the verdict of Check on a History. Counts are over message
// identities (queue, id) unless they say copies or events. The per-queue
// counts in Queues add up to the totals.
type Report struct {
	// Attempted is the number of distinct messages published (at least one
	// Published record).
	Attempted int `json:"attempted"`
	// Confirmed is the number of messages whose best outcome is OK.
	Confirmed int `json:"confirmed"`
	// Failed is the number of messages whose best outcome is Failed.
	Failed int `json:"failed"`
	// Unknown is the number of messages whose best outcome is Unknown.
	Unknown int `json:"unknown"`
	// Delivered is the number of distinct messages delivered at least once,
	// unexpected ones included.
	Delivered int `json:"delivered"`
	// Deliveries is the number of delivery events (copies).
	Deliveries int `json:"deliveries"`
	// Lost is the number of confirmed messages never delivered.
	Lost int `json:"lost"`
	// Unexpected is the number of messages delivered but never published to
	// that queue, or whose every publish attempt Failed.
	Unexpected int `json:"unexpected"`
	// Duplicated is the number of messages delivered more than once.
	Duplicated int `json:"duplicated"`
	// DuplicatedRedelivered counts duplicated messages whose extra copies
	// were all flagged redelivered: expected after a fault or lost session.
	DuplicatedRedelivered int `json:"duplicated_redelivered"`
	// DuplicatedAnomalies counts duplicated messages with an extra copy not
	// flagged redelivered: the message was enqueued twice.
	DuplicatedAnomalies int `json:"duplicated_anomalies"`
	// DuplicatedSinglePublish counts the DuplicatedAnomalies whose message was
	// published in a single attempt, so no workload retry explains the second
	// enqueue (the SDK's own retries are deduplicated by the server).
	DuplicatedSinglePublish int `json:"duplicated_single_publish"`
	// DuplicatesDuringFaults counts extra copies (not messages) delivered
	// inside a fault window or within the fault slack after it.
	DuplicatesDuringFaults int `json:"duplicates_during_faults"`
	// ExtraDeliveries is Deliveries - Delivered: the copies beyond the first.
	ExtraDeliveries int `json:"extra_deliveries"`
	// Recovered counts messages whose best outcome is Unknown but that were
	// delivered (the publish did happen).
	Recovered int `json:"recovered"`
	// DuplicateRate is ExtraDeliveries / Delivered (0 when nothing was
	// delivered).
	DuplicateRate float64 `json:"duplicate_rate"`
	// OrderViolations maps every Ordered queue to its number of order
	// violations (0 included, so it shows which queues were checked).
	OrderViolations map[string]int `json:"order_violations"`
	// AcksOK, AcksUnknown and AcksFailed count ack events by outcome.
	AcksOK      int `json:"acks_ok"`
	AcksUnknown int `json:"acks_unknown"`
	AcksFailed  int `json:"acks_failed"`
	// Unacked counts delivered messages with no OK ack; informational (a
	// run that drains and acks everything ends with 0).
	Unacked int `json:"unacked"`
	// RedeliveredAfterAck counts copies delivered after an OK ack of the same
	// message. Informational: a stream ack is accepted before its Settle is
	// replicated, so a fault can still return the message.
	RedeliveredAfterAck int `json:"redelivered_after_ack"`
	// Queues holds the same counts per queue.
	Queues map[string]QueueReport `json:"queues"`
	// LostIDs, UnexpectedIDs, AnomalyIDs and OrderIDs are at most MaxExamples
	// examples each, formatted "queue/id" and sorted.
	LostIDs       []string `json:"lost_ids"`
	UnexpectedIDs []string `json:"unexpected_ids"`
	AnomalyIDs    []string `json:"anomaly_ids"`
	OrderIDs      []string `json:"order_ids"`
	// Faults is the number of fault windows in the history.
	Faults int `json:"faults"`
	// FaultSlack is the slack used for DuplicatesDuringFaults (JSON:
	// nanoseconds).
	FaultSlack time.Duration `json:"fault_slack"`
}

// QueueReport holds Report's counts for one queue.
type QueueReport struct {
	Ordered                 bool    `json:"ordered,omitempty"`
	Attempted               int     `json:"attempted"`
	Confirmed               int     `json:"confirmed"`
	Failed                  int     `json:"failed"`
	Unknown                 int     `json:"unknown"`
	Delivered               int     `json:"delivered"`
	Deliveries              int     `json:"deliveries"`
	Lost                    int     `json:"lost"`
	Unexpected              int     `json:"unexpected"`
	Duplicated              int     `json:"duplicated"`
	DuplicatedRedelivered   int     `json:"duplicated_redelivered"`
	DuplicatedAnomalies     int     `json:"duplicated_anomalies"`
	DuplicatedSinglePublish int     `json:"duplicated_single_publish"`
	DuplicatesDuringFaults  int     `json:"duplicates_during_faults"`
	ExtraDeliveries         int     `json:"extra_deliveries"`
	Recovered               int     `json:"recovered"`
	DuplicateRate           float64 `json:"duplicate_rate"`
	OrderViolations         int     `json:"order_violations"`
	Unacked                 int     `json:"unacked"`
	RedeliveredAfterAck     int     `json:"redelivered_after_ack"`
}

// OK reports whether the run kept the at-least-once contract: nothing
// confirmed was lost and nothing was delivered that was not published.
//
// Duplicates and order violations are reported but do not fail OK: a
// workload that retries a publish after an unknown outcome makes a new
// publish the server cannot tell from the first, so an unflagged duplicate
// is legitimate for it, and the order check depends on the workload keeping
// its promise (one producer, one prefetch-1 consumer). Strict adds the
// findings that no legitimate history explains.
func (r Report) OK() bool { return r.Lost == 0 && r.Unexpected == 0 }

// Strict reports OK and, in addition, no unflagged duplicate of a message
// published in a single attempt (a broken publish deduplication or a
// delivery sent twice without the redelivered flag) and no order violation.
func (r Report) Strict() bool {
	if !r.OK() || r.DuplicatedSinglePublish != 0 {
		return false
	}
	for _, n := range r.OrderViolations {
		if n != 0 {
			return false
		}
	}
	return true
}

// add accumulates q into the totals of r (the fields both carry).
func (r *Report) add(q QueueReport) {
	r.Attempted += q.Attempted
	r.Confirmed += q.Confirmed
	r.Failed += q.Failed
	r.Unknown += q.Unknown
	r.Delivered += q.Delivered
	r.Deliveries += q.Deliveries
	r.Lost += q.Lost
	r.Unexpected += q.Unexpected
	r.Duplicated += q.Duplicated
	r.DuplicatedRedelivered += q.DuplicatedRedelivered
	r.DuplicatedAnomalies += q.DuplicatedAnomalies
	r.DuplicatedSinglePublish += q.DuplicatedSinglePublish
	r.DuplicatesDuringFaults += q.DuplicatesDuringFaults
	r.ExtraDeliveries += q.ExtraDeliveries
	r.Recovered += q.Recovered
	r.Unacked += q.Unacked
	r.RedeliveredAfterAck += q.RedeliveredAfterAck
}

// rate is extra / delivered, 0 when nothing was delivered.
func rate(extra, delivered int) float64 {
	if delivered == 0 {
		return 0
	}
	return float64(extra) / float64(delivered)
}
