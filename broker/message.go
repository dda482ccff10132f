package broker

import (
	"github.com/warrenmq/warren/routing"
)

// Value is a typed header or argument value. It is routing's, so a
// publish is routed by headers exchanges without converting its headers.
type Value = routing.Value

// ValueType says which field of a Value holds it.
type ValueType = routing.ValueType

// Value types. ValueNone is a value-less binding argument, which matches on
// the presence of the header key alone. Bytes are held in Value.Str.
const (
	ValueNone   = routing.ValueNone
	ValueString = routing.ValueString
	ValueInt    = routing.ValueInt
	ValueBool   = routing.ValueBool
	ValueFloat  = routing.ValueFloat
	ValueBytes  = routing.ValueBytes
	// ValueList and ValueTable hold, in Str, the deterministic protobuf
	// encoding of a ValueList or ValueTable (the API's and the log's are
	// the same bytes).
	ValueList  = routing.ValueList
	ValueTable = routing.ValueTable
)

// Message is what a producer publishes and a consumer receives: a body
// with its headers and properties (AMQP's basic properties).
type Message struct {
	Body       []byte
	Headers    map[string]Value
	Properties Properties
}

// Properties are a message's AMQP basic properties that Warren keeps.
type Properties struct {
	ContentType     string
	ContentEncoding string
	MessageID       string
	CorrelationID   string
	ReplyTo         string
	// ExpirationMs is the per-message TTL in milliseconds (0: none).
	ExpirationMs int64
	TimestampMs  int64
	Type         string
	AppID        string
	UserID       string
	Priority     uint32
}

// PublishEntry is one message to publish to an exchange.
type PublishEntry struct {
	Exchange   string
	RoutingKey string
	Message    Message
	// Mandatory reports a message that routes to no queue as
	// PublishUnroutable instead of dropping it.
	Mandatory bool
	// Sequence, with the publisher id of the call, deduplicates retries;
	// 0 disables it.
	Sequence uint64

	// deadLetter, set by the broker's own dead-lettering, routes past an
	// internal exchange and leaves out the queues it names (a dead-letter
	// cycle).
	deadLetter *deadLetterRoute
	// due: a delayed message now due, routed now whatever its x-delay.
	due bool
	// outboxID is the outbox entry a broker publish comes from.
	outboxID uint64
	// redelivered: the message may be in its queues already (an outbox
	// publish made again); it is delivered flagged (Payload.redelivered).
	redelivered bool
}

// PublishStatus is the fate of one published message.
type PublishStatus uint8

// Publish outcomes.
const (
	// PublishConfirmed: committed in every queue it was routed to (or
	// routed nowhere without mandatory: dropped, as RabbitMQ does).
	PublishConfirmed PublishStatus = 1
	// PublishUnroutable: routed to no queue, with mandatory.
	PublishUnroutable PublishStatus = 2
	// PublishRejected: a target queue refused it (overflow reject-publish).
	PublishRejected PublishStatus = 3
)

// PublishOutcome is the result for one PublishEntry.
type PublishOutcome struct {
	Status PublishStatus
	Reason string
}

// Delivery is a message handed to a consumer or taken with Get.
type Delivery struct {
	// Tag is the delivery tag, increasing per consumer (per session and
	// queue for gets).
	Tag         uint64
	Queue       string
	ConsumerTag string
	// DeliveryCount is how many times the message was delivered and came
	// back before this delivery.
	DeliveryCount uint32
	Redelivered   bool
	// Exchange and RoutingKey are those the message was published with.
	Exchange   string
	RoutingKey string
	Message    Message
}
