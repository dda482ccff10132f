package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Handler processes one delivery for Consume. It may settle the delivery
// itself; if it does not, Consume acks it when the handler returns nil and
// nacks it with requeue when the handler returns an error.
type Handler func(ctx context.Context, d *Delivery) error

// Consume subscribes to queue and runs handler for each delivery on up to
// o.Concurrency goroutines (default 1: one delivery at a time, in order). It
// blocks until ctx is done or the subscription fails for good.
//
// Settling: when the handler returns without having settled the delivery (and
// the subscription is neither auto-ack nor o.ManualSettle), Consume acks it if
// the handler returned nil and nacks it with requeue if the handler returned
// an error.
//
// Re-subscribing: when the stream breaks — the connection failed (the client
// fails over to another address), the node answered Unavailable, or the server
// ended the stream without an error — Consume waits for the running handlers,
// backs off (see WithReconnectBackoff), and subscribes again with the same
// options and the same consumer tag (the server-generated one when
// o.ConsumerTag was empty), until ctx is done. The server has returned the
// unsettled deliveries of the broken stream to the queue, marked
// redelivered, so they come again, to this or another consumer: delivery is
// at least once, and handlers must tolerate redeliveries (check
// Delivery.Redelivered). Settles by handlers that were still running on the
// broken stream fail with ErrSubscriptionEnded, which Consume ignores. A
// re-subscription that finds the old consumer tag still registered
// (AlreadyExists, while the server cleans up the broken stream) is retried
// too.
//
// When ctx is done, Consume stops taking deliveries, waits for the running
// handlers (they receive ctx, so they should return promptly), settles as
// above, closes the subscription (the server returns deliveries not yet
// handled to the queue), and returns nil. When the subscription fails for
// good (any other error, e.g. NotFound after the queue was deleted, or
// ErrClosed after Client.Close) it waits for the running handlers the same way
// and returns that error. Errors of the first Subscribe are returned as is.
// No goroutine outlives Consume. Handler panics are not recovered.
func (c *Client) Consume(ctx context.Context, queue string, handler Handler, o ConsumeOptions) error {
	if handler == nil {
		return invalid("nil handler")
	}
	n := o.Concurrency
	if n < 0 {
		return invalid("concurrency %d", n)
	}
	if n == 0 {
		n = 1
	}
	sub, err := c.Subscribe(ctx, queue, o)
	if err != nil {
		return err
	}
	o.ConsumerTag = sub.ConsumerTag()
	bo := c.newBackoff()
	for {
		started := time.Now()
		err := consumeSubscription(ctx, sub, handler, n, o.ManualSettle)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if !c.resumable(sub, err) {
			return err
		}
		// A stream that had lived is re-opened at once (the first
		// retry without back-off: the leader most often moved a moment
		// ago, and the new one serves); one that ended soon after it
		// opened waits, so a node that accepts and then fails streams
		// is not hammered.
		lived := time.Since(started) >= c.opts.backoffMax
		if lived {
			bo.reset()
		}
		if sub, err = c.resubscribe(ctx, queue, o, &bo, lived); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// consumeSubscription runs handlers on sub's deliveries until ctx is done or
// sub ends, waits for them, closes sub, and returns sub.Err() (nil when ctx
// ended first).
func consumeSubscription(ctx context.Context, sub *Subscription, handler Handler, n int, manual bool) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumeLoop(ctx, sub, handler, stop, manual)
		}()
	}
	var result error
	select {
	case <-ctx.Done():
	case <-sub.Done():
		result = sub.Err()
	}
	close(stop)
	wg.Wait()
	_ = sub.Close()
	return result
}

// resumable reports whether a subscription that ended with err should be
// re-opened: after a connection failure, an Unavailable answer, or a clean
// end by the server.
func (c *Client) resumable(sub *Subscription, err error) bool {
	if errors.Is(err, ErrClosed) || c.isClosed() {
		return false
	}
	if errors.Is(err, ErrSubscriptionEnded) {
		return true
	}
	return c.classify(sub.cn, err) != failOther
}

// resubscribe subscribes again, at once when now is set and after a
// backoff delay otherwise, retrying (after backoff delays) while the old
// consumer tag is still registered, until ctx ends.
func (c *Client) resubscribe(ctx context.Context, queue string, o ConsumeOptions, bo *backoff, now bool) (*Subscription, error) {
	for first := true; ; first = false {
		if (!first || !now) && !c.sleep(ctx, bo.delay()) {
			if c.isClosed() {
				return nil, ErrClosed
			}
			return nil, ctx.Err()
		}
		sub, err := c.Subscribe(ctx, queue, o)
		if err == nil {
			return sub, nil
		}
		if status.Code(err) != codes.AlreadyExists || ctx.Err() != nil || c.isClosed() {
			return nil, err
		}
	}
}

// consumeLoop runs handler on deliveries until stop is closed or the
// subscription ends; unless manual, it settles what the handler left.
func consumeLoop(ctx context.Context, sub *Subscription, handler Handler, stop <-chan struct{}, manual bool) {
	// Settles after the handler must go out even when ctx is already done.
	settleCtx := context.WithoutCancel(ctx)
	for {
		select {
		case <-stop:
			return
		default:
		}
		select {
		case <-stop:
			return
		case d, ok := <-sub.Deliveries():
			if !ok {
				return
			}
			herr := handler(ctx, d)
			if manual || d.Settled() {
				continue
			}
			// A failed settle means the stream is gone; the server has
			// returned the delivery to the queue.
			if herr != nil {
				_ = d.Nack(settleCtx, NackOptions{Requeue: true})
			} else {
				_ = d.Ack(settleCtx)
			}
		}
	}
}
