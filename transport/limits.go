package transport

// Limits bound what a client may send. Anything past them is refused with
// INVALID_ARGUMENT (malformed) or RESOURCE_EXHAUSTED (too big), never
// truncated.
type Limits struct {
	// MaxMessageBytes bounds one message body. Default 4 MiB.
	MaxMessageBytes int
	// MaxNameBytes bounds exchange, queue, consumer tag and routing key
	// names (AMQP's short string). Default 255.
	MaxNameBytes int
	// MaxHeaders bounds the headers of one message and the arguments of one
	// declaration or binding. Default 128.
	MaxHeaders int
	// MaxHeaderValueBytes bounds one string or bytes header/argument value.
	// Default 64 KiB.
	MaxHeaderValueBytes int
	// MaxArgumentsBytes bounds the arguments of one declaration or binding
	// in all (keys and values, encoded). Default 64 KiB.
	MaxArgumentsBytes int
	// MaxPrefetch bounds a consumer's prefetch (AMQP's is 16 bits).
	// Default 65535.
	MaxPrefetch int
	// MaxPublishBatch bounds the entries of one Publish call. Default 10000.
	MaxPublishBatch int
	// MaxRequestBytes bounds one gRPC message. Default 64 MiB.
	MaxRequestBytes int
	// MaxConnections bounds the client connections open at once; more are
	// closed as they arrive. Default 10,000.
	MaxConnections int
	// MaxStreamsPerConnection bounds the streams (consume and session
	// streams, calls in flight) of one client connection. Default 1,000.
	MaxStreamsPerConnection int
	// MaxConsumersPerSession bounds the consume streams one session has
	// open on a node. Default 1,000.
	MaxConsumersPerSession int
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes:         4 << 20,
		MaxNameBytes:            255,
		MaxHeaders:              128,
		MaxHeaderValueBytes:     64 << 10,
		MaxArgumentsBytes:       64 << 10,
		MaxPrefetch:             65535,
		MaxPublishBatch:         10000,
		MaxRequestBytes:         64 << 20,
		MaxConnections:          10000,
		MaxStreamsPerConnection: 1000,
		MaxConsumersPerSession:  1000,
	}
}

// maxSessionIDBytes bounds client-chosen session ids.
const maxSessionIDBytes = 128

// MaxSettlesPerMessage bounds the settles of one Settles message on a
// consume stream (a client settling more sends more messages), so what one
// message makes the node do is bounded by more than its byte size.
const MaxSettlesPerMessage = 1024
