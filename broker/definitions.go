package broker

// ExchangeSpec declares an exchange.
type ExchangeSpec struct {
	// VHost is the virtual host ("" is the default, "/").
	VHost string
	Name  string
	// Kind is direct, fanout, topic or headers.
	Kind       string
	AutoDelete bool
	Internal   bool
	Args       map[string]Value
}

// Exchange is a declared exchange.
type Exchange struct {
	ExchangeSpec
	// Builtin marks the default exchange and the amq.* ones.
	Builtin bool
}

// QueueSpec declares a queue.
type QueueSpec struct {
	VHost string
	// Name "" asks the broker for a generated amq.gen-… name.
	Name       string
	Exclusive  bool
	AutoDelete bool
	Args       map[string]Value
	// OwnerSession is the session an exclusive queue belongs to.
	OwnerSession string
}

// Queue is a declared queue with its counts, as this node's replica of its
// group sees them.
type Queue struct {
	VHost      string
	Name       string
	Exclusive  bool
	AutoDelete bool
	Args       map[string]Value
	// Group is the queue group that holds it.
	Group uint32
	Ready uint64
	// ReadyBytes is what max-length-bytes limits: the ready messages'
	// fsm.MessageSize (bodies alone for those enqueued under
	// SIZE_RULE_BODY).
	ReadyBytes uint64
	Unacked    uint64
	Consumers  uint32
	// ActiveConsumer is the tag of a single-active-consumer queue's active
	// consumer ("" when none).
	ActiveConsumer string
	// OwnerSession is the session an exclusive queue belongs to ("" for
	// others), for a front end that refuses another session's use of it
	// as RabbitMQ does (405 RESOURCE_LOCKED on a passive declare).
	OwnerSession string
	// Rates are the publish, deliver and ack rates, as counted by the
	// leader of the queue's group (not Known when it could not be asked).
	Rates Rates
}

// Binding routes an exchange's messages to a queue.
type Binding struct {
	VHost    string
	Exchange string
	// Queue is the destination's name: a queue's, or an exchange's when
	// ToExchange (an exchange-to-exchange binding).
	Queue      string
	ToExchange bool
	Key        string
	Args       map[string]Value
}

// DeleteQueueOptions are RabbitMQ's queue.delete conditions, and who asks.
type DeleteQueueOptions struct {
	VHost string
	// Session is the caller's: an exclusive queue may be deleted only by
	// the session that declared it.
	Session string
	// IfUnused refuses when the queue has consumers.
	IfUnused bool
	// IfEmpty refuses when the queue has ready messages.
	IfEmpty bool
	// Reason is what the streams of the queue's consumers end with; ""
	// is "queue deleted". For the broker's own deletions.
	Reason string
}
