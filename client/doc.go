// Package client is the Go SDK of Warren, a clustered message-queue service
// with RabbitMQ's model: exchanges (direct, topic, headers, fanout), queues,
// bindings, publisher confirms, consumers with prefetch and acknowledgements,
// and polling with Get.
//
// # Connecting
//
// [New] dials the given node addresses in order and keeps the first that
// becomes ready. The connection sends keepalive pings (every 10s by default,
// with a 5s timeout, also without active streams) so a dead peer is noticed.
// A [Client] is safe for concurrent use by many goroutines; create one per
// process and call [Client.Close] when done.
//
// Every call takes a context first. Errors returned by the server keep their
// gRPC status: [google.golang.org/grpc/status.Code] and
// [google.golang.org/grpc/status.FromError] work on them. Errors that the
// client produces itself are sentinels from errors.go ([ErrClosed],
// [ErrRejected], [ErrAlreadySettled], …), wrapped with %w where context is
// added.
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
// breaks while the client is open, the next call that needs it opens it again
// under the same id; what the old stream held has been released by then.
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
// retried request. Messages published one after another by a goroutine that
// waits for each confirm are committed in that order; with several requests in
// flight, asynchronous publishes may be committed out of order (use
// WithPublishInFlight(1) when order matters more than throughput).
//
// # Consuming
//
// [Client.Subscribe] is the low-level consumer: a channel of [Delivery] values
// that the caller settles with [Delivery.Ack], [Delivery.Nack] or
// [Delivery.Reject]. [Client.Consume] runs a handler per delivery on a bounded
// number of goroutines and settles on the handler's behalf when it did not:
// a nil error acks, a non-nil error nacks with requeue. [Client.Get] polls one
// message. A delivery is settled at most once; a second settle returns
// [ErrAlreadySettled] without sending anything.
//
// The ctx given to Subscribe bounds only the handshake; a subscription lives
// until [Subscription.Close]. Close half-closes the stream so that the server
// still processes the settles sent before it, waits up to [CloseGracePeriod]
// for the server to end the stream, then cancels it; the server returns the
// unsettled deliveries to the queue.
//
// # What the client expects of the server
//
// The server answers the first SessionRequest with a SessionResponse (the
// session id) once the session is registered; answers a Subscribe with
// Subscribed or an error status; returns exactly one PublishResult per entry,
// in order; and ends a Consume stream when the client half-closes it.
//
// # Not yet
//
// Reconnect and failover across nodes are not implemented: the client talks
// to the one node it connected to, and when that connection or a stream
// fails, calls return the error. The seam for it is the unexported broker
// method (every RPC goes through the stub it returns) together with the dial
// loop in dial.go; reconnect will swap the connection there, follow
// ErrorInfo.leader_addr, back off with jitter, retry publishes with the same
// publisher id and sequence, re-attach the session id, and report state
// changes through one OnStateChange callback (STYLE.md §10). Leader-aware
// routing of publishes is also for later.
package client
