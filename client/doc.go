// Package client is the Go SDK of Warren, a clustered message-queue service
// with RabbitMQ's model: exchanges (direct, topic, headers, fanout), queues,
// bindings, publisher confirms, consumers with prefetch and acknowledgements,
// and polling with Get.
//
// # Connecting
//
// [New] dials the given node addresses in order, once, and keeps the first
// that becomes ready; it keeps the whole list for failover (below). The
// connection sends keepalive pings (every 10s by default, with a 5s timeout,
// also without active streams) so a dead peer is noticed. A [Client] is safe
// for concurrent use by many goroutines; create one per process and call
// [Client.Close] when done.
//
// Every call takes a context first. Errors returned by the server keep their
// gRPC status: [google.golang.org/grpc/status.Code] and
// [google.golang.org/grpc/status.FromError] work on them. Errors that the
// client produces itself are sentinels from errors.go ([ErrClosed],
// [ErrRejected], [ErrAlreadySettled], …), wrapped with %w where context is
// added. Arguments the client refuses before sending anything wrap
// [ErrInvalidArgument] and carry the gRPC code InvalidArgument too: among
// them any name, key, header, argument or property that is not valid UTF-8
// (every API string is a protobuf string), named in the message.
//
// # Sessions
//
// Each client has a session id (128 random bits in hex unless set with
// [WithSessionID]). On the first [Client.Get], [Client.Subscribe] or exclusive
// [Client.DeclareQueue] the client opens the Session stream, names the
// session, waits for the server's first SessionResponse (its acknowledgement
// that the session is registered), and then pings on it until Close. When
// that stream ends the server releases the session: unacked gets go back to
// their queues (redelivered) and exclusive queues are deleted. If the stream
// breaks while the client is open, the client opens it again under the same
// id at once (after a failover on the new connection; with backoff when it
// keeps breaking soon after opening), and a call that needs it waits for
// that; what the old stream held has been released by then (unless the
// server keeps sessions for a grace period), so gets taken before cannot be
// settled, and exclusive queues must be declared again.
//
// # Read-your-writes
//
// The client remembers the highest meta_index returned by a declaration and
// sends it as min_meta_index with later requests, so a node that serves them
// has applied the declarations this client already saw.
//
// # Publishing
//
// [Client.Publish] returns once the server confirmed the message (committed
// on a majority of every target queue's group). [Client.PublishAsync] returns
// a [PublishFuture] at once. Both hand the message to a background batcher that
// coalesces concurrent publishes into one PublishRequest (up to 256 messages,
// 1 MiB, or 1ms after the first, see [WithPublishBatch]) and keeps several
// requests in flight ([WithPublishInFlight]), so one producer that publishes
// asynchronously or from many goroutines reaches high throughput with
// confirms. Every message carries the client's publisher id and a sequence
// number from a per-client counter so that the server can deduplicate a
// retried request (see Retries). Messages published one after another by a
// goroutine that waits for each confirm are committed in that order; with
// several requests in flight, asynchronous publishes may be committed out of
// order (use WithPublishInFlight(1) when order matters more than throughput;
// a request retried after a failover keeps its place only then).
//
// # Consuming
//
// [Client.Subscribe] is the low-level consumer: a channel of [Delivery] values
// that the caller settles with [Delivery.Ack], [Delivery.Nack] or
// [Delivery.Reject]. [Client.Consume] runs a handler per delivery on a bounded
// number of goroutines and settles on the handler's behalf when it did not:
// a nil error acks, a non-nil error nacks with requeue (unless
// [ConsumeOptions].ManualSettle leaves every settle to the handler). [Client.Get] polls one
// message. A delivery is settled at most once; a second settle returns
// [ErrAlreadySettled] without sending anything.
//
// The ctx given to Subscribe bounds only the handshake; a subscription lives
// until [Subscription.Close]. Close half-closes the stream so that the server
// still processes the settles sent before it, waits up to [CloseGracePeriod]
// for the server to end the stream, then cancels it; the server returns the
// unsettled deliveries to the queue. A subscription whose stream breaks ends:
// Deliveries closes, [Subscription.Err] says why, and settling its deliveries
// returns [ErrSubscriptionEnded] (the server has returned them). Subscribe
// does not re-open it; Consume does (below).
//
// In a cluster a subscription's stream goes to the leader of its queue's
// Raft group: the client asks the node it is connected to, which answers
// with the leader's gRPC address when another node leads, and opens the
// stream on a separate connection to that node, so deliveries and acks skip
// a hop. When the leader cannot be dialled from here, or has just lost the
// leadership, the stream goes through the connected node, which proxies it
// (always so with [WithoutDirectConsume]). Losing the connected node does
// not end a stream held at the leader; losing the leader does.
//
// Publishes go first to the connected node, which forwards them to the
// leaders of their queues' groups. When its answer names the node that leads
// every group the messages went to, the client dials that node in the
// background and sends the next publishes there once the connection is
// ready. A publish the leader fails, or does not answer within 500 ms (a
// paused or cut-off node), goes through the connected node at once with the
// same sequence numbers, which the server deduplicates
// ([WithoutDirectPublish] keeps every publish on the connected node).
//
// Deliveries that are ready together come in one message, and settles made
// while the previous ones are being sent go out together: under load a
// subscription costs a message per batch, not per delivery and per ack.
// A settle method returns once its settle is queued to be sent, as a send on
// a stream returns before the server has it.
//
// # What the client expects of the server
//
// The server answers the first SessionRequest with a SessionResponse (the
// session id) once the session is registered; answers a Subscribe with
// Subscribed or an error status; returns exactly one PublishResult per entry,
// in order; and ends a Consume stream when the client half-closes it.
//
// # Reconnect and failover
//
// Every RPC and stream runs on the client's current connection. When that
// connection fails — a call gets Unavailable while the connection is not
// ready (refused, closed, GOAWAY, keepalive timeout), a stream on it breaks
// that way, or the session stream ends with Unavailable (the node is shutting
// down) — the client fails over: it closes the connection, reports
// [Reconnecting], and dials the other addresses in order, starting with the
// one after the failed one (the failed one comes last), until one is ready;
// then it reports [Connected]. Between full rounds over the list it waits an
// exponential backoff with jitter (50ms doubling to 2s by default, see
// [WithReconnectBackoff]); the first round starts at once unless the failed
// connection never carried a successful call. The reconnect runs in the
// background until it succeeds or Close; calls wait for it, each bounded by
// its own ctx, and fail with an error wrapping both ctx.Err() and the last
// failure (so [google.golang.org/grpc/status.Code] is still Unavailable).
// State changes go to the one callback of [WithStateChange], serially and in
// order; [Client.State] and [Client.Addr] tell the current state and node.
//
// Unavailable answers from a node whose connection works are retried on the
// same connection, the first retry at once and later ones after the backoff
// delay (a leader that changed a moment ago most often has a successor by
// then, and a node holds a publish while its queue's group has no leader):
// NOT_LEADER (the node did nothing;
// nodes forward most requests to the leaders themselves; only a Subscribe
// asks for the leader's gRPC address, see Consuming), OUTCOME_UNKNOWN (the
// leader was lost while applying), and plain Unavailable (a node shutting
// down, leadership moving). When one call has got nothing but such answers
// from a node for 10s (longer than a leader election), the client moves to
// another address, as away from a node cut off from its cluster.
//
// Moving to another node ends the session stream, and the server then
// releases the session (see Sessions): this is the price of a failover.
//
// # Retries
//
// Which calls are retried, until their ctx ends, after a connection failure
// (on the next connection) or an Unavailable answer:
//
//   - DeclareExchange, DeclareQueue, Bind, Unbind, BindExchange, UnbindExchange,
//     ListExchanges, ListQueues,
//     ListBindings, ClusterStatus and the opening of Subscribe and of the
//     session: always; they are idempotent.
//   - DeleteExchange, DeleteQueue, PurgeQueue: always. When the first attempt
//     took effect but its answer was lost, the retry may answer NotFound (a
//     delete), or count only what arrived in between (a purge).
//   - Publish, PublishAsync, PublishBatch: always, by the batcher, which
//     sends the failed request again with the same publisher id and the same
//     sequence numbers. The server deduplicates by producer id and sequence
//     (a window of 4096 sequences per producer, which the batcher never lets
//     the requests in flight exceed), so a retry after an unknown outcome
//     never enqueues a message twice. A request is retried while any of its
//     callers' contexts is live.
//   - Get and the settles of a get: only after NOT_LEADER. After any other
//     failure the outcome is unknown and the error is returned: a retried Get
//     could take a second message while the first stays checked out to the
//     session (with AutoAck the first would be lost), and a retried settle
//     would be refused as a settle of an unknown tag, hiding whether the first
//     one took effect.
//   - Settles on a subscription: never; they go on the stream, and when it
//     broke the server has already returned the deliveries.
//
// Errors other than Unavailable (NotFound, FailedPrecondition, …) and the
// caller's ctx are never retried.
//
// # At-least-once consumption with Consume
//
// [Client.Consume] re-subscribes when its stream breaks (a connection
// failure, an Unavailable answer, or a clean end by the server): it lets the
// running handlers finish, backs off, and subscribes again with the same
// options and consumer tag, until its ctx ends. The server returned the
// unsettled deliveries of the broken stream to the queue, marked redelivered;
// the acks of handlers that were still running fail harmlessly. So a message
// whose handler ran but whose ack did not reach the server is delivered
// again, to this consumer or another: handlers must be idempotent or check
// [Delivery.Redelivered].
package client
