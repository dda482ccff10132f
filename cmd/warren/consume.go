package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

type consumeFlags struct {
	prefetch      int
	autoAck       bool
	count         int
	requeueOnExit bool
	consumerTag   string
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

It stops after --count deliveries, on SIGINT, or when the subscription fails
(exit status 1). Deliveries received but not printed return to the queue.`,
		Args: nArgs(1, 1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			if fl.prefetch < 0 || fl.count < 0 {
				return usagef("--prefetch and --count must not be negative")
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
	return cmd
}

func consume(ctx context.Context, a *app, c *client.Client, queue string, fl consumeFlags) error {
	prefetch := fl.prefetch
	if fl.count > 0 && (prefetch == 0 || prefetch > fl.count) {
		prefetch = fl.count // do not take messages that would only go back
	}
	sctx, cancel := a.opCtx(ctx)
	sub, err := c.Subscribe(sctx, queue, client.ConsumeOptions{
		Prefetch: prefetch, AutoAck: fl.autoAck, ConsumerTag: fl.consumerTag,
	})
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = sub.Close() }()
	// Settles go out even after SIGINT cancelled ctx.
	settleCtx := context.WithoutCancel(ctx)
	var last *client.Delivery
	defer func() {
		if fl.requeueOnExit && last != nil {
			// The stream's end would return them too; this is immediate.
			_ = last.Nack(settleCtx, client.NackOptions{Requeue: true, Multiple: true})
		}
	}()
	p := a.printer()
	for n := 0; fl.count == 0 || n < fl.count; n++ {
		var d *client.Delivery
		select {
		case <-ctx.Done():
			return nil // SIGINT
		case dd, ok := <-sub.Deliveries():
			if !ok {
				return sub.Err()
			}
			d = dd
		}
		if err := p.printDelivery(d); err != nil {
			return err
		}
		last = d
		if !fl.autoAck && !fl.requeueOnExit {
			if err := d.Ack(settleCtx); err != nil {
				return err
			}
		}
	}
	return nil
}
