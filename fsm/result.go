package fsm

import "github.com/warrenmq/warren/fsm/fsmpb"

// Result is what applying one command produced. Domain errors are in Err
// (the command was still applied identically on every replica); effects
// (Deliveries, DeadLetters) are for the leader to act on.
type Result struct {
	// Err is a domain error wrapping one of this package's sentinels.
	Err error

	// Meta results.
	QueueID   uint64
	QueueName string
	Created   bool
	// DroppedQueues are queues whose deletion this command committed; their
	// groups must drop the queues' state.
	DroppedQueues []DroppedQueue

	// Enqueued has one outcome per EnqueueMessage of an Enqueue, in order.
	Enqueued []EnqueueOutcome
	// Deliveries are the messages newly assigned to consumers by this
	// command, in assignment order.
	Deliveries []Delivery
	// Got is the message taken by a Get; nil when the queue was empty.
	Got *Delivery
	// Count is the number of messages removed by Purge, the ready count
	// after a Get, or the number of messages returned by SessionDown/Cancel.
	Count uint64
	// IdleQueues are queues whose last consumer this command removed (for
	// auto-delete queues, which go when their last consumer goes), with
	// their names, so that the meta state is asked about these queues
	// alone.
	IdleQueues []IdleQueue
	// Outboxed counts what the command put in the group's outbox (at
	// least once dead letters, delayed messages now due): the leader
	// publishes the outbox.
	Outboxed int
	// DeadLetters are discarded messages of queues with a dead-letter
	// exchange, for the leader to republish.
	DeadLetters []DeadLetter
	// ExpiredQueues are queues a Tick found unused past their x-expires,
	// for the leader to delete.
	ExpiredQueues []IdleQueue
	// ActiveChanged lists the consumers of single-active-consumer queues
	// that became active or stopped being active, in order.
	ActiveChanged []ActiveChange
	// Ended are consumers this command removed from the state without a
	// Cancel of theirs (their queue was dropped), in queue, session, tag
	// order, each with why: the leader ends their streams with that.
	Ended []EndedConsumer
}

// ActiveChange says that a consumer became active (or stopped being so).
type ActiveChange struct {
	Queue        uint64
	Session, Tag string
	Active       bool
}

// EndedConsumer is a consumer a command removed, and why.
type EndedConsumer struct {
	Queue     uint64
	QueueName string
	Session   string
	Tag       string
	// Reason is the text its stream ends with, e.g. "queue deleted".
	Reason string
	// Timeout: it was ended by its consumer timeout (not NOT_FOUND, but
	// a failed precondition: the consumer did not ack in time).
	Timeout bool
}

// EnqueueStatus is the outcome of one message of an Enqueue.
type EnqueueStatus uint8

// Enqueue outcomes. When a message targets several queues, the first
// non-OK outcome in this order wins: NoQueue, Rejected, then Duplicate.
const (
	EnqueueOK        EnqueueStatus = 0
	EnqueueDuplicate EnqueueStatus = 1
	EnqueueRejected  EnqueueStatus = 2
	EnqueueNoQueue   EnqueueStatus = 3
)

// EnqueueOutcome is the fate of one enqueued message.
type EnqueueOutcome struct {
	Status EnqueueStatus
	// Reason explains Rejected and NoQueue to a person.
	Reason string
}

// Delivery is one message assigned to one consumer (or taken by a Get).
type Delivery struct {
	Queue       uint64
	QueueName   string
	Session     string
	ConsumerTag string
	// Tag is the delivery tag, increasing per consumer (per session for gets).
	Tag   uint64
	MsgID uint64
	// DeliveryCount is how many times the message was delivered and came
	// back before this delivery.
	DeliveryCount uint32
	Redelivered   bool
	// AutoAck: the message left the state when it was assigned (an
	// auto-ack consumer, or a Get without ack), so the state no longer
	// holds its payload; whoever keeps bodies outside the state must
	// read this one's body before anything may reclaim it.
	AutoAck bool
	Payload *fsmpb.Payload
}

// IdleQueue names a queue whose last consumer a command removed.
type IdleQueue struct {
	ID    uint64
	VHost string // "" is the default
	Name  string
}

// DeadLetter is a discarded message to be republished to an exchange.
type DeadLetter struct {
	// VHost is the dead-lettering queue's virtual host ("" is the default):
	// the exchange is there.
	VHost      string
	Exchange   string
	RoutingKey string
	// Reason is "rejected", "expired", "maxlen" or "delivery_limit".
	Reason string
	Queue  string
	// QueueID is the dead-lettering queue's id.
	QueueID uint64
	Payload *fsmpb.Payload
	// OutboxID, when not 0, is the dead letter's id in its group's outbox
	// (at-least-once): the leader proposes SettleDeadLetters with it once
	// the publish committed.
	OutboxID uint64
	// Delayed: not a dead letter but a delayed message now due, to route
	// through Exchange as published (no death recorded).
	Delayed bool

	size uint64 // the message's size, for the outbox's share of the queue's limits
}
