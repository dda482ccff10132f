package client

import (
	"context"
	"time"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// GetOptions are the settings of Get; the zero value takes the message in
// manual-ack mode with the server's default lease.
type GetOptions struct {
	// AutoAck counts the message as acknowledged once taken (at most once);
	// the returned delivery is already settled.
	AutoAck bool
	// Lease is how long an unacked message may stay out before it returns
	// to its queue, rounded up to whole milliseconds; 0 means the server's
	// default.
	Lease time.Duration
}

// Get takes one message from queue. ok is false (with a nil error) when the
// queue has no ready message. Without AutoAck the message belongs to the
// client's session until it is settled with the delivery's methods, the
// session ends (at Close at the latest), or its lease runs out; it then
// returns to the queue, redelivered. Get opens the session stream if needed.
// Safe for concurrent use.
//
// Get is retried only when the node answered NOT_LEADER (it did nothing).
// After any other Unavailable, including a failed connection (the client
// then fails over in the background), the error is returned: the message may
// have been taken, and a blind retry would take a second one while the first
// stays checked out to the session until its lease runs out or the session
// ends (with AutoAck, the first would be lost). Call Get again to go on.
func (c *Client) Get(ctx context.Context, queue string, o GetOptions) (d *Delivery, ok bool, err error) {
	if o.Lease < 0 {
		return nil, false, invalid("negative lease %v", o.Lease)
	}
	if err := c.ensureSession(ctx); err != nil {
		return nil, false, err
	}
	var resp *warrenpb.GetResponse
	err = c.call(ctx, retryUnsent, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.Get(ctx, &warrenpb.GetRequest{
			Queue:        queue,
			AutoAck:      o.AutoAck,
			SessionId:    c.opts.sessionID,
			LeaseMs:      millisCeil(o.Lease),
			MinMetaIndex: c.MetaIndex(),
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	pd := resp.GetDelivery()
	if pd == nil {
		return nil, false, nil
	}
	d = deliveryFromProto(pd)
	d.MessageCount = resp.GetMessageCount()
	if d.Queue == "" {
		d.Queue = queue
	}
	if o.AutoAck {
		d.settled.Store(true)
		return d, true, nil
	}
	d.settler = getSettler{c}
	c.gets.add(d)
	return d, true, nil
}
