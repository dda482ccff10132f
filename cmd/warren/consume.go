package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

type consumeFlags struct {
	prefetch      int
	autoAck       bool
	count         int
	requeueOnExit bool
	consumerTag   string
	priority      int
	timeout       time.Duration
}

func newConsumeCmd(a *app) *cobra.Command {
	var fl consumeFlags
	cmd := &cobra.Command{
		Use:   "consume QUEUE",
		Short: "Consume messages and print one line per delivery",
		Long: `Consume from QUEUE and print one line per delivery,

  tag=N consumer=C key=K redelivered=true|false BODY

(the delivery tag, the consumer tag, the routing key — quoted when empty or
holding spaces — and the body as is), or one JSON object per line with -o json
(body, routing_key, delivery_tag, consumer_tag, redelivered, delivery_count,
headers, properties). Each delivery is
acknowledged after it is printed, unless --auto-ack (the server counts it as
acknowledged when sent) or --requeue-on-exit (nothing is acknowledged and every
printed delivery returns to the queue when the command exits; at most --prefetch
deliveries are then seen, use --prefetch 0 for no limit).

With several --server addresses it survives the loss of a node: when the
stream breaks it subscribes again through another node, and the deliveries it
had not acknowledged come again, marked redelivered (at least once).

It stops after --count deliveries, on SIGINT, or when the subscription fails
for good, e.g. the queue was deleted (exit status 1). Deliveries received but
not printed return to the queue.`,
		Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			if fl.prefetch < 0 || fl.count < 0 || fl.timeout < 0 {
				return usagef("--prefetch, --count and --consumer-timeout must not be negative")
			}
			if fl.autoAck && fl.requeueOnExit {
				return usagef("--auto-ack and --requeue-on-exit exclude each other")
			}
			return a.action(func(ctx context.Context, c *client.Client, _ []string) error {
				return consume(ctx, a, c, pos[0], fl)
			})(cmd, pos)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.prefetch, "prefetch", 10, "most unacknowledged deliveries at once (0: unlimited; lowered to --count)")
	f.BoolVar(&fl.autoAck, "auto-ack", false, "let the server count deliveries as acknowledged once sent")
	f.IntVar(&fl.count, "count", 0, "stop after N deliveries (0: no limit)")
	f.BoolVar(&fl.requeueOnExit, "requeue-on-exit", false, "do not acknowledge; return every delivery to the queue on exit")
	f.StringVar(&fl.consumerTag, "consumer-tag", "", "consumer tag (default: server-generated)")
	f.IntVar(&fl.priority, "priority", 0, "consumer priority (RabbitMQ's x-priority): consumers of a higher one get messages while they have credit")
	f.DurationVar(&fl.timeout, "consumer-timeout", 0, "end the consumer when a delivery stays unacknowledged this long (0: the queue's x-consumer-timeout, else the node's --consumer-timeout)")
	return cmd
}

func consume(ctx context.Context, a *app, c *client.Client, queue string, fl consumeFlags) error {
	prefetch := fl.prefetch
	if fl.count > 0 && (prefetch == 0 || prefetch > fl.count) {
		prefetch = fl.count // do not take messages that would only go back
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	p := a.printer()
	printed := 0
	var printErr error
	// The SDK's Consume, not a bare Subscribe: when the node holding the
	// stream dies, it subscribes again through the other --server
	// addresses (same consumer tag, backoff), and the deliveries of the
	// broken stream come again, marked redelivered. The handler runs one
	// delivery at a time, so lines keep the delivery order; Consume acks
	// each one after it is printed (unless --auto-ack, or
	// --requeue-on-exit: ManualSettle leaves them out until the command
	// exits and its stream ends).
	err := c.Consume(ctx, queue, func(_ context.Context, d *client.Delivery) error {
		if fl.count > 0 && printed >= fl.count {
			// Taken after the last wanted one, before Consume stopped:
			// not printed, so back to the queue (nacked, or returned
			// when the stream ends).
			return errNotWanted
		}
		if err := p.printDelivery(d); err != nil {
			printErr = err
			stop()
			return err
		}
		printed++
		if fl.count > 0 && printed == fl.count {
			stop()
		}
		return nil
	}, client.ConsumeOptions{
		Prefetch: prefetch, AutoAck: fl.autoAck, ConsumerTag: fl.consumerTag,
		ManualSettle: fl.requeueOnExit, Priority: fl.priority, Timeout: fl.timeout,
	})
	if printErr != nil {
		return printErr
	}
	return err
}

// errNotWanted makes Consume return a delivery taken past --count.
var errNotWanted = errors.New("past --count")
