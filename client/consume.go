package client

import (
	"context"
	"sync"
)

// Handler processes one delivery for Consume. It may settle the delivery
// itself; if it does not, Consume acks it when the handler returns nil and
// nacks it with requeue when the handler returns an error.
type Handler func(ctx context.Context, d *Delivery) error

// Consume subscribes to queue and runs handler for each delivery on up to
// o.Concurrency goroutines (default 1: one delivery at a time, in order). It
// blocks until ctx is done or the subscription fails.
//
// Settling: when the handler returns without having settled the delivery (and
// the subscription is not auto-ack), Consume acks it if the handler returned
// nil and nacks it with requeue if the handler returned an error.
//
// When ctx is done, Consume stops taking deliveries, waits for the running
// handlers (they receive ctx, so they should return promptly), settles as
// above, closes the subscription (the server returns deliveries not yet
// handled to the queue), and returns nil. When the subscription fails it waits
// for the running handlers the same way and returns Subscription.Err (for
// example a gRPC status, or ErrClosed after Client.Close). Errors from
// Subscribe are returned as is. No goroutine outlives Consume. Handler panics
// are not recovered.
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
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumeLoop(ctx, sub, handler, stop)
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

// consumeLoop runs handler on deliveries until stop is closed or the
// subscription ends.
func consumeLoop(ctx context.Context, sub *Subscription, handler Handler, stop <-chan struct{}) {
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
			if d.Settled() {
				continue
			}
			// A failed settle means the stream is gone; Consume reports that.
			if herr != nil {
				_ = d.Nack(settleCtx, NackOptions{Requeue: true})
			} else {
				_ = d.Ack(settleCtx)
			}
		}
	}
}
