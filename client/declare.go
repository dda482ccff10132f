package client

import (
	"context"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// ExchangeOptions are the settings of DeclareExchange; the zero value
// declares a plain durable exchange.
type ExchangeOptions struct {
	// AutoDelete deletes the exchange when its last binding goes.
	AutoDelete bool
	// Internal refuses direct publishes; the exchange only receives from
	// exchange-to-exchange routing.
	Internal bool
	// Passive only checks that the exchange exists (NotFound otherwise).
	Passive bool
	// Args are exchange arguments; see Message for the supported value types.
	Args map[string]any
}

// DeleteExchangeOptions are the settings of DeleteExchange.
type DeleteExchangeOptions struct {
	// IfUnused refuses (FailedPrecondition) to delete an exchange that has
	// bindings.
	IfUnused bool
}

// QueueOptions are the settings of DeclareQueue; the zero value declares a
// plain durable queue.
type QueueOptions struct {
	// Exclusive makes the queue belong to this client's session: it is
	// deleted when the session ends (at Close at the latest).
	Exclusive bool
	// AutoDelete deletes the queue when its last consumer goes.
	AutoDelete bool
	// Passive only checks that the queue exists (NotFound otherwise).
	Passive bool
	// Args are queue arguments (max-length, overflow, message-ttl,
	// dead-letter-exchange, delivery-limit, …); see Message for the
	// supported value types.
	Args map[string]any
}

// DeleteQueueOptions are the settings of DeleteQueue.
type DeleteQueueOptions struct {
	// IfUnused refuses (FailedPrecondition) to delete a queue with consumers.
	IfUnused bool
	// IfEmpty refuses (FailedPrecondition) to delete a queue with messages.
	IfEmpty bool
}

// Queue is the result of DeclareQueue.
type Queue struct {
	// Name is the queue's name; the server generates one ("amq.gen-…")
	// when the declared name was empty.
	Name string
	// Messages is the number of ready messages.
	Messages uint64
	// Consumers is the number of consumers.
	Consumers uint32
	// Notice is a remark of the server on the declaration to show the
	// user, or "": for x-queue-type "classic", that the queue is a
	// replicated one.
	Notice string
}

// ExchangeInfo describes an exchange in ListExchanges.
type ExchangeInfo struct {
	// Name is the exchange's name; "" is the default exchange.
	Name string
	// Kind is "direct", "topic", "headers", "fanout" or "x-delayed-message".
	Kind string
	// AutoDelete, Internal and Args are as declared (see ExchangeOptions).
	AutoDelete bool
	Internal   bool           // see AutoDelete
	Args       map[string]any // see AutoDelete
	// Builtin marks the exchanges that exist from the start ("", amq.*).
	Builtin bool
}

// QueueInfo describes a queue in ListQueues.
type QueueInfo struct {
	// Name is the queue's name.
	Name string
	// Exclusive, AutoDelete and Args are as declared (see QueueOptions).
	Exclusive  bool
	AutoDelete bool           // see Exclusive
	Args       map[string]any // see Exclusive
	// Ready is the number of messages waiting for delivery.
	Ready uint64
	// Unacked is the number of messages delivered and not yet settled.
	Unacked uint64
	// Consumers is the number of consumers.
	Consumers uint32
	// ReadyBytes is the total size of the ready messages, in bytes, as
	// max-length-bytes counts it: bodies, header keys and values, and
	// string properties (bodies alone for messages a node enqueued
	// before every node of its queue group ran a build that counts them).
	ReadyBytes uint64
	// ActiveConsumer is the consumer tag of the active consumer of a queue
	// with x-single-active-consumer ("" when it has none, or for other
	// queues).
	ActiveConsumer string
	// Rates are the queue's message rates as the leader of its group
	// counted them (node-local counters: a leadership change starts them
	// again); Rates.Known is false when the node that answered could not
	// get them from that leader.
	Rates QueueRates
}

// QueueRates are messages per second over the last 5 and 60 seconds.
type QueueRates struct {
	Known                 bool
	Publish5s, Publish60s float64
	Deliver5s, Deliver60s float64
	Ack5s, Ack60s         float64
}

// Binding is a binding of a queue, or of another exchange, to an exchange.
type Binding struct {
	// Exchange is the source exchange.
	Exchange string
	// Queue is the destination: a queue's name, or an exchange's when
	// Destination is ExchangeDestination.
	Queue string
	// Destination is what the binding leads to: QueueDestination or
	// ExchangeDestination.
	Destination DestinationKind
	// Key is the binding key (a pattern for topic exchanges).
	Key string
	// Args are the binding arguments (x-match and headers for headers
	// exchanges; nil values match on presence).
	Args map[string]any
}

// BindingFilter selects bindings in ListBindings; empty fields match all.
type BindingFilter struct {
	// Exchange, when set, selects the bindings of this exchange.
	Exchange string
	// Queue, when set, selects the bindings to a destination of this name.
	Queue string
	// Destination, when not AnyDestination, selects the bindings to queues
	// or those to exchanges.
	Destination DestinationKind
}

// DestinationKind is what a binding leads to.
type DestinationKind int

const (
	// AnyDestination, in a BindingFilter, selects both kinds.
	AnyDestination DestinationKind = iota
	// QueueDestination: the binding delivers to a queue.
	QueueDestination
	// ExchangeDestination: the binding routes on through another exchange
	// (RabbitMQ's exchange-to-exchange binding).
	ExchangeDestination
)

// String is "queue", "exchange" or "any".
func (k DestinationKind) String() string {
	switch k {
	case QueueDestination:
		return "queue"
	case ExchangeDestination:
		return "exchange"
	}
	return "any"
}

func (k DestinationKind) api() warrenpb.DestinationKind {
	switch k {
	case QueueDestination:
		return warrenpb.DestinationKind_DESTINATION_KIND_QUEUE
	case ExchangeDestination:
		return warrenpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	}
	return warrenpb.DestinationKind_DESTINATION_KIND_UNSPECIFIED
}

// DeclareExchange creates the exchange name of the given kind ("direct",
// "topic", "headers", "fanout", or "x-delayed-message" with the argument
// x-delayed-type naming one of the others: see Delay), or checks that an existing one has the same
// properties (FailedPrecondition otherwise). It is retried on Unavailable
// (after a failover when the connection failed) until ctx ends. Safe for
// concurrent use.
func (c *Client) DeclareExchange(ctx context.Context, name, kind string, o ExchangeOptions) error {
	args, err := toValues("argument", o.Args)
	if err != nil {
		return err
	}
	var resp *warrenpb.DeclareExchangeResponse
	err = c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.DeclareExchange(ctx, &warrenpb.DeclareExchangeRequest{
			Name:         name,
			Kind:         kind,
			AutoDelete:   o.AutoDelete,
			Internal:     o.Internal,
			Arguments:    args,
			Passive:      o.Passive,
			MinMetaIndex: c.MetaIndex(),
		})
		return err
	})
	if err != nil {
		return err
	}
	c.observeMetaIndex(resp.GetMetaIndex())
	return nil
}

// DeleteExchange deletes the exchange name and its bindings. It is retried
// on Unavailable until ctx ends, so when the first attempt took effect but its
// answer was lost, the retry may answer NotFound. Safe for concurrent use.
func (c *Client) DeleteExchange(ctx context.Context, name string, o DeleteExchangeOptions) error {
	var resp *warrenpb.DeleteExchangeResponse
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.DeleteExchange(ctx, &warrenpb.DeleteExchangeRequest{
			Name:         name,
			IfUnused:     o.IfUnused,
			MinMetaIndex: c.MetaIndex(),
		})
		return err
	})
	if err != nil {
		return err
	}
	c.observeMetaIndex(resp.GetMetaIndex())
	return nil
}

// ListExchanges returns every exchange. It is retried on Unavailable until
// ctx ends. Safe for concurrent use.
func (c *Client) ListExchanges(ctx context.Context) ([]ExchangeInfo, error) {
	exchanges, err := allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]*warrenpb.Exchange, string, error) {
		resp, err := cn.api.ListExchanges(ctx, &warrenpb.ListExchangesRequest{MinMetaIndex: c.MetaIndex(), PageToken: token})
		return resp.GetExchanges(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ExchangeInfo, 0, len(exchanges))
	for _, e := range exchanges {
		out = append(out, ExchangeInfo{
			Name:       e.GetName(),
			Kind:       e.GetKind(),
			AutoDelete: e.GetAutoDelete(),
			Internal:   e.GetInternal(),
			Args:       fromValues(e.GetArguments()),
			Builtin:    e.GetBuiltin(),
		})
	}
	return out, nil
}

// DeclareQueue creates the queue name (a server-generated name when empty),
// or checks that an existing one has the same properties (FailedPrecondition
// otherwise), and returns its name and counts. An exclusive declaration opens
// the session stream first. It is retried on Unavailable until ctx ends.
// Safe for concurrent use.
func (c *Client) DeclareQueue(ctx context.Context, name string, o QueueOptions) (Queue, error) {
	args, err := toValues("argument", o.Args)
	if err != nil {
		return Queue{}, err
	}
	if o.Exclusive {
		if err := c.ensureSession(ctx); err != nil {
			return Queue{}, err
		}
	}
	var resp *warrenpb.DeclareQueueResponse
	err = c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.DeclareQueue(ctx, &warrenpb.DeclareQueueRequest{
			Name:         name,
			Exclusive:    o.Exclusive,
			AutoDelete:   o.AutoDelete,
			Arguments:    args,
			Passive:      o.Passive,
			SessionId:    c.opts.sessionID,
			MinMetaIndex: c.MetaIndex(),
		})
		return err
	})
	if err != nil {
		return Queue{}, err
	}
	c.observeMetaIndex(resp.GetMetaIndex())
	return Queue{Name: resp.GetName(), Messages: resp.GetMessageCount(), Consumers: resp.GetConsumerCount(), Notice: resp.GetNotice()}, nil
}

// DeleteQueue deletes the queue name and returns how many messages it held.
// It is retried on Unavailable until ctx ends, so when the first attempt took
// effect but its answer was lost, the retry may answer NotFound. Safe for
// concurrent use.
func (c *Client) DeleteQueue(ctx context.Context, name string, o DeleteQueueOptions) (uint64, error) {
	var resp *warrenpb.DeleteQueueResponse
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.DeleteQueue(ctx, &warrenpb.DeleteQueueRequest{
			Name:         name,
			IfUnused:     o.IfUnused,
			IfEmpty:      o.IfEmpty,
			MinMetaIndex: c.MetaIndex(),
			SessionId:    c.opts.sessionID,
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	c.observeMetaIndex(resp.GetMetaIndex())
	return resp.GetMessageCount(), nil
}

// PurgeQueue removes the ready messages of the queue name and returns how
// many it removed. It is retried on Unavailable until ctx ends; after a lost
// answer the count is that of the retry (messages published in between may be
// purged too). Safe for concurrent use.
func (c *Client) PurgeQueue(ctx context.Context, name string) (uint64, error) {
	var resp *warrenpb.PurgeQueueResponse
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.PurgeQueue(ctx, &warrenpb.PurgeQueueRequest{Name: name, MinMetaIndex: c.MetaIndex(), SessionId: c.opts.sessionID})
		return err
	})
	if err != nil {
		return 0, err
	}
	return resp.GetMessageCount(), nil
}

// ListQueues returns every queue with its counts. It is retried on
// Unavailable until ctx ends. Safe for concurrent use.
func (c *Client) ListQueues(ctx context.Context) ([]QueueInfo, error) {
	queues, err := allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]*warrenpb.QueueInfo, string, error) {
		resp, err := cn.api.ListQueues(ctx, &warrenpb.ListQueuesRequest{MinMetaIndex: c.MetaIndex(), PageToken: token})
		return resp.GetQueues(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, 0, len(queues))
	for _, q := range queues {
		out = append(out, QueueInfo{
			Name:       q.GetName(),
			Exclusive:  q.GetExclusive(),
			AutoDelete: q.GetAutoDelete(),
			Args:       fromValues(q.GetArguments()),
			Ready:      q.GetReady(),
			Unacked:    q.GetUnacked(),
			Consumers:  q.GetConsumers(),
			ReadyBytes: q.GetReadyBytes(),

			ActiveConsumer: q.GetActiveConsumer(),
			Rates:          ratesFromProto(q.GetRates()),
		})
	}
	return out, nil
}

// Bind binds queue to exchange with the binding key and arguments (for a
// headers exchange: x-match and the headers to match; a nil value matches on
// the key's presence). Binding twice is a no-op, so it is retried on
// Unavailable until ctx ends. Safe for concurrent use.
func (c *Client) Bind(ctx context.Context, exchange, queue, key string, args map[string]any) error {
	return c.bind(ctx, false, exchange, queue, QueueDestination, key, args)
}

// Unbind removes the binding of queue to exchange with exactly this key and
// these arguments. It is retried on Unavailable until ctx ends. Safe for
// concurrent use.
func (c *Client) Unbind(ctx context.Context, exchange, queue, key string, args map[string]any) error {
	return c.bind(ctx, true, exchange, queue, QueueDestination, key, args)
}

// BindExchange binds the exchange destination to the exchange source, as
// RabbitMQ's exchange.bind: a message source routes with key and args goes
// on through destination as if published there (with its own routing key),
// and every queue it reaches, by however many paths, gets one copy.
// destination may be internal (it then takes messages only this way). It
// needs write permission on destination and read on source. Binding twice
// is a no-op; retried on Unavailable until ctx ends. Safe for concurrent
// use.
func (c *Client) BindExchange(ctx context.Context, source, destination, key string, args map[string]any) error {
	return c.bind(ctx, false, source, destination, ExchangeDestination, key, args)
}

// UnbindExchange removes the binding of destination to source with
// exactly this key and these arguments. Retried on Unavailable until ctx
// ends. Safe for concurrent use.
func (c *Client) UnbindExchange(ctx context.Context, source, destination, key string, args map[string]any) error {
	return c.bind(ctx, true, source, destination, ExchangeDestination, key, args)
}

func (c *Client) bind(ctx context.Context, unbind bool, source, dest string, kind DestinationKind, key string, args map[string]any) error {
	pargs, err := toValues("argument", args)
	if err != nil {
		return err
	}
	var index uint64
	err = c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) error {
		if unbind {
			resp, err := cn.api.UnbindQueue(ctx, &warrenpb.UnbindQueueRequest{
				Exchange: source, Queue: dest, DestinationKind: kind.api(), BindingKey: key, Arguments: pargs, MinMetaIndex: c.MetaIndex(),
			})
			index = resp.GetMetaIndex()
			return err
		}
		resp, err := cn.api.BindQueue(ctx, &warrenpb.BindQueueRequest{
			Exchange: source, Queue: dest, DestinationKind: kind.api(), BindingKey: key, Arguments: pargs, MinMetaIndex: c.MetaIndex(),
		})
		index = resp.GetMetaIndex()
		return err
	})
	if err != nil {
		return err
	}
	c.observeMetaIndex(index)
	return nil
}

// ListBindings returns the bindings that match f. It is retried on
// Unavailable until ctx ends. Safe for concurrent use.
func (c *Client) ListBindings(ctx context.Context, f BindingFilter) ([]Binding, error) {
	bindings, err := allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]*warrenpb.Binding, string, error) {
		resp, err := cn.api.ListBindings(ctx, &warrenpb.ListBindingsRequest{
			Exchange: f.Exchange, Queue: f.Queue, DestinationKind: f.Destination.api(), MinMetaIndex: c.MetaIndex(), PageToken: token,
		})
		return resp.GetBindings(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Binding, 0, len(bindings))
	for _, b := range bindings {
		dest := QueueDestination
		if b.GetDestinationKind() == warrenpb.DestinationKind_DESTINATION_KIND_EXCHANGE {
			dest = ExchangeDestination
		}
		out = append(out, Binding{
			Exchange:    b.GetExchange(),
			Queue:       b.GetQueue(),
			Destination: dest,
			Key:         b.GetBindingKey(),
			Args:        fromValues(b.GetArguments()),
		})
	}
	return out, nil
}

// allPages fetches a paged listing from its first page to its last, each
// page retried on Unavailable like any idempotent call, and returns every
// item. The server pages listings so no answer outgrows a gRPC message.
func allPages[T any](ctx context.Context, c *Client, page func(ctx context.Context, cn *conn, token string) ([]T, string, error)) ([]T, error) {
	var all []T
	token := ""
	for {
		var items []T
		var next string
		err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
			items, next, err = page(ctx, cn, token)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

func ratesFromProto(r *warrenpb.QueueRates) QueueRates {
	return QueueRates{
		Known: r.GetKnown(), Publish5s: r.GetPublish_5S(), Publish60s: r.GetPublish_60S(),
		Deliver5s: r.GetDeliver_5S(), Deliver60s: r.GetDeliver_60S(), Ack5s: r.GetAck_5S(), Ack60s: r.GetAck_60S(),
	}
}
