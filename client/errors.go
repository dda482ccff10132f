package client

import "errors"

// ErrClosed is returned by calls on a Client (or a Subscription) after Close,
// and by publishes that were still queued when Close ran. A publish that was
// already sent when Close ran fails with an error wrapping both ErrClosed and
// the gRPC status of the cancelled request; its outcome is unknown.
var ErrClosed = errors.New("client: closed")

// ErrRejected is returned (wrapped, with the server's reason) by Publish,
// PublishBatch and PublishFuture.Wait when a target queue refused the message,
// for example a full queue with overflow reject-publish. The PublishResult is
// returned as well, with Status Rejected and the Reason.
var ErrRejected = errors.New("client: publish rejected")

// ErrAlreadySettled is returned by Delivery.Ack, Nack and Reject when the
// delivery was already settled: by an earlier call, by a settle with Multiple
// on a later delivery, or because it was delivered in auto-ack mode. Nothing
// is sent to the server in that case.
var ErrAlreadySettled = errors.New("client: delivery already settled")

// ErrSubscriptionEnded is returned (wrapped, with why the stream ended) when
// a delivery of a subscription whose stream has ended is settled; nothing is
// sent then. It is also the value of Subscription.Err when the server ended
// the stream without an error status. Unacked deliveries of an ended
// subscription have returned to their queue, redelivered later.
var ErrSubscriptionEnded = errors.New("client: subscription ended")

// ErrUnsupportedValue is returned (wrapped, naming the key and Go type) when
// a header or argument value has a type that cannot be sent. See the Message
// documentation for the supported types. Nothing is sent in that case.
var ErrUnsupportedValue = errors.New("client: unsupported value type")

// ErrProtocol is returned (wrapped) when the server answers in a way the
// protocol does not allow, for example a publish response with a different
// number of results than entries, or a Consume stream that does not start with
// Subscribed.
var ErrProtocol = errors.New("client: protocol violation")

// ErrInvalidArgument is returned (wrapped) when a call's arguments are
// rejected by the client before anything is sent (a negative prefetch, an
// empty address list, a nil handler, …).
var ErrInvalidArgument = errors.New("client: invalid argument")
