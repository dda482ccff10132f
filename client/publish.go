package client

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// PublishStatus is the server's verdict on one published message.
type PublishStatus int

const (
	// Unconfirmed means no verdict: the request failed and the outcome is
	// unknown (the error says why).
	Unconfirmed PublishStatus = iota
	// Confirmed means the message is committed in every target queue.
	Confirmed
	// Unroutable means no queue took the message and it was published with
	// Mandatory. Without Mandatory an unroutable message is confirmed and
	// dropped.
	Unroutable
	// Rejected means a target queue refused the message (e.g. max-length with
	// overflow reject-publish); PublishResult.Reason says why.
	Rejected
)

// String returns "unconfirmed", "confirmed", "unroutable" or "rejected".
func (s PublishStatus) String() string {
	switch s {
	case Confirmed:
		return "confirmed"
	case Unroutable:
		return "unroutable"
	case Rejected:
		return "rejected"
	default:
		return "unconfirmed"
	}
}

// PublishResult is the outcome of one publish.
type PublishResult struct {
	// Status is the server's verdict; Unconfirmed when the request failed.
	Status PublishStatus
	// Reason explains a Rejected status.
	Reason string
}

// PublishOption modifies one publish.
type PublishOption func(*publishSettings)

type publishSettings struct {
	mandatory bool
	delay     time.Duration
}

// Delay asks an exchange of kind x-delayed-message to route the message
// only after d (at millisecond precision): it sets the x-delay header, as
// RabbitMQ's delayed-message plugin reads it. Other exchanges ignore it and
// route at once. A delayed publish is confirmed once the delay is stored
// (replicated); mandatory cannot report it unroutable.
func Delay(d time.Duration) PublishOption {
	return func(s *publishSettings) { s.delay = d }
}

// Mandatory makes the server report a message that no queue takes as
// Unroutable instead of dropping it silently.
func Mandatory() PublishOption {
	return func(s *publishSettings) { s.mandatory = true }
}

// Publishing is one message of PublishBatch.
type Publishing struct {
	// Exchange is the exchange to publish to; "" is the default exchange.
	Exchange string
	// RoutingKey is matched against the exchange's bindings.
	RoutingKey string
	// Message is the message to publish.
	Message Message
	// Mandatory has the meaning of the Mandatory option.
	Mandatory bool
}

// PublishFuture is the pending outcome of PublishAsync. It is safe for
// concurrent use.
type PublishFuture struct {
	done chan struct{}
	res  PublishResult
	err  error
	// last is the latest failed attempt while the request is retried, so
	// a caller whose ctx ends first learns why (e.g. NOT_LEADER).
	last atomic.Pointer[error]
}

// noteFailure records a failed attempt of a request still being retried.
func (f *PublishFuture) noteFailure(err error) { f.last.Store(&err) }

func newFuture() *PublishFuture { return &PublishFuture{done: make(chan struct{})} }

// complete sets the outcome; it must be called exactly once.
func (f *PublishFuture) complete(res PublishResult, err error) {
	f.res, f.err = res, err
	close(f.done)
}

// Done returns a channel that is closed once the outcome is known.
func (f *PublishFuture) Done() <-chan struct{} { return f.done }

// Wait waits for the outcome, bounded by ctx, and returns it as Publish
// does. When ctx ends first it returns ctx.Err(); the message may still be
// published. Wait may be called any number of times.
func (f *PublishFuture) Wait(ctx context.Context) (PublishResult, error) {
	select {
	case <-f.done:
		return f.res, f.err
	default:
	}
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		if last := f.last.Load(); last != nil {
			return PublishResult{}, fmt.Errorf("client: %w; last error: %w", context.Cause(ctx), *last)
		}
		return PublishResult{}, context.Cause(ctx)
	}
}

// Publish publishes msg to exchange with the routing key and waits for the
// server's confirm. It returns a nil error with Status Confirmed, or with
// Status Unroutable when Mandatory was given and no queue took the message. A
// Rejected message returns the result and an error wrapping ErrRejected and
// the reason. A request that fails with Unavailable (a failed connection,
// NOT_LEADER, OUTCOME_UNKNOWN) is retried with the same publisher id and
// sequence numbers, so the server enqueues the message once, until ctx ends.
// Other errors keep their gRPC status and leave the outcome unknown (Status
// Unconfirmed); so does a ctx that ends during retries (the error then wraps
// ctx.Err() and the last failure). Safe for concurrent use; concurrent
// publishes share requests (see the package documentation).
func (c *Client) Publish(ctx context.Context, exchange, key string, msg Message, opts ...PublishOption) (PublishResult, error) {
	return c.PublishAsync(ctx, exchange, key, msg, opts...).Wait(ctx)
}

// PublishAsync hands msg to the batcher and returns a future for its confirm.
// It blocks only while the batcher's queue is full (bounded by ctx). An
// invalid message, a done ctx or a closed client give a future that is
// already complete with the error. The message is sent only if ctx is still
// live when its batch is assembled; afterwards cancelling ctx no longer
// withdraws a request already sent, but it is not retried after a failure
// once the contexts of all the messages it carries have ended. While the
// client reconnects, the message waits for the new connection. Safe for
// concurrent use.
func (c *Client) PublishAsync(ctx context.Context, exchange, key string, msg Message, opts ...PublishOption) *PublishFuture {
	f := newFuture()
	var s publishSettings
	for _, o := range opts {
		o(&s)
	}
	pm, err := msg.toProto()
	if err != nil {
		f.complete(PublishResult{}, err)
		return f
	}
	if s.delay > 0 {
		if pm.Headers == nil {
			pm.Headers = map[string]*warrenpb.Value{}
		}
		pm.Headers["x-delay"] = intValue(s.delay.Milliseconds())
	}
	e := &warrenpb.PublishEntry{Exchange: exchange, RoutingKey: key, Message: pm, Mandatory: s.mandatory}
	// Checked alone, before it shares a request with other publishes that
	// a bad string would fail with it.
	size, err := checkEntry(e)
	if err != nil {
		f.complete(PublishResult{}, err)
		return f
	}
	c.pub.enqueue(ctx, &pending{entry: e, size: size, ctx: ctx, fut: f})
	return f
}

// PublishBatch publishes every message and waits for all confirms (bounded by
// ctx). The results are in the order of pubs. The error is nil when every
// message was Confirmed or Unroutable; otherwise it counts the failures and
// wraps the first one (ErrRejected, a gRPC status, or ctx.Err()). The messages
// share requests with other publishes of the client. Safe for concurrent use.
func (c *Client) PublishBatch(ctx context.Context, pubs []Publishing) ([]PublishResult, error) {
	futs := make([]*PublishFuture, len(pubs))
	for i := range pubs {
		p := &pubs[i]
		var opts []PublishOption
		if p.Mandatory {
			opts = append(opts, Mandatory())
		}
		futs[i] = c.PublishAsync(ctx, p.Exchange, p.RoutingKey, p.Message, opts...)
	}
	results := make([]PublishResult, len(pubs))
	var first error
	firstAt, failed := 0, 0
	for i, f := range futs {
		res, err := f.Wait(ctx)
		results[i] = res
		if err != nil {
			if first == nil {
				first, firstAt = err, i
			}
			failed++
		}
	}
	if first != nil {
		return results, fmt.Errorf("client: %d of %d publishes failed; first (#%d): %w", failed, len(pubs), firstAt, first)
	}
	return results, nil
}

// resultFromProto converts one server verdict.
func resultFromProto(r *warrenpb.PublishResult) (PublishResult, error) {
	switch r.GetStatus() {
	case warrenpb.PublishStatus_PUBLISH_STATUS_CONFIRMED:
		return PublishResult{Status: Confirmed}, nil
	case warrenpb.PublishStatus_PUBLISH_STATUS_UNROUTABLE:
		return PublishResult{Status: Unroutable, Reason: r.GetReason()}, nil
	case warrenpb.PublishStatus_PUBLISH_STATUS_REJECTED:
		res := PublishResult{Status: Rejected, Reason: r.GetReason()}
		return res, fmt.Errorf("%w: %s", ErrRejected, r.GetReason())
	default:
		return PublishResult{}, fmt.Errorf("%w: publish status %v", ErrProtocol, r.GetStatus())
	}
}
