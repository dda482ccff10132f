package check

import "time"

// HistoryVersion is the format version of History written by this package.
const HistoryVersion = 1

// History is a recorded run: every publish attempt, delivery, ack and fault
// window. It is plain data, JSON-serialisable, so a run can be saved and
// checked again later; Check is a pure function of it.
//
// Times are offsets from Start measured on the recorder's monotonic clock
// (so a wall-clock step during a run does not reorder events), and Index is
// one counter over all event kinds in recording order. Within each slice,
// Check orders events by Index (stably, so hand-made histories may leave
// Index zero and rely on slice order).
type History struct {
	// Version is HistoryVersion when the history was recorded.
	Version int `json:"version"`
	// Start is the wall-clock time the recorder was created; informational.
	Start time.Time `json:"start"`
	// FaultSlack extends every fault window when classifying duplicates;
	// zero means DefaultFaultSlack.
	FaultSlack time.Duration `json:"fault_slack,omitempty"`
	// Ordered lists the queues declared with Recorder.Ordered, sorted.
	Ordered []string `json:"ordered,omitempty"`
	// Faults are the fault windows, in recording order.
	Faults []FaultWindow `json:"faults,omitempty"`
	// Publishes are the publish attempts, in recording order.
	Publishes []Publish `json:"publishes"`
	// Deliveries are the deliveries, in recording order.
	Deliveries []Delivery `json:"deliveries"`
	// Acks are the ack outcomes, in recording order.
	Acks []Ack `json:"acks,omitempty"`
}

// Publish is one publish attempt of message ID to Queue. JSON keys are short
// because a history holds up to millions of events.
type Publish struct {
	// Index is the event's position among all recorded events.
	Index uint64 `json:"i"`
	// At is when the attempt was recorded, as an offset from History.Start.
	At time.Duration `json:"t"`
	// Queue is the queue the message was published to.
	Queue string `json:"q"`
	// ID identifies the message; (Queue, ID) is its identity.
	ID string `json:"id"`
	// Producer names the publisher; Seq orders its messages.
	Producer string `json:"p,omitempty"`
	// Seq is the producer's sequence number, increasing per producer.
	Seq uint64 `json:"s,omitempty"`
	// Outcome is the attempt's result.
	Outcome Outcome `json:"o"`
}

// Delivery is one delivery of message ID from Queue to Consumer.
type Delivery struct {
	// Index is the event's position among all recorded events.
	Index uint64 `json:"i"`
	// At is when the delivery was recorded, as an offset from History.Start.
	At time.Duration `json:"t"`
	// Queue is the queue the message was delivered from.
	Queue string `json:"q"`
	// ID identifies the message.
	ID string `json:"id"`
	// Consumer names the receiving consumer.
	Consumer string `json:"c,omitempty"`
	// Redelivered is the broker's redelivered flag.
	Redelivered bool `json:"r,omitempty"`
}

// Ack is the outcome of a consumer's ack of a delivery of message ID.
type Ack struct {
	// Index is the event's position among all recorded events.
	Index uint64 `json:"i"`
	// At is when the ack outcome was recorded, as an offset from History.Start.
	At time.Duration `json:"t"`
	// Queue is the queue of the acked delivery.
	Queue string `json:"q"`
	// ID identifies the message.
	ID string `json:"id"`
	// Consumer names the consumer that acked.
	Consumer string `json:"c,omitempty"`
	// Outcome is the ack's result.
	Outcome Outcome `json:"o"`
}

// FaultWindow is a fault injected during [Start, End), offsets from
// History.Start. Open marks a fault that had not ended when recorded (it
// lasts to the end of the history). End before Start is read as End = Start:
// an instantaneous fault, which still covers the slack after it.
type FaultWindow struct {
	// Name describes the fault, e.g. "kill n2".
	Name string `json:"name"`
	// Start is when the fault began.
	Start time.Duration `json:"start"`
	// End is when the fault was healed.
	End time.Duration `json:"end"`
	// Open is true when the fault was never healed.
	Open bool `json:"open,omitempty"`
}

// key is a message's identity: the same ID may go to several queues.
type key struct{ queue, id string }

// String formats the key for example lists as "queue/id".
func (k key) String() string { return k.queue + "/" + k.id }

// less orders keys by queue, then id.
func (k key) less(o key) bool {
	if k.queue != o.queue {
		return k.queue < o.queue
	}
	return k.id < o.id
}
