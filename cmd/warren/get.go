package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

func newGetCmd(a *app) *cobra.Command {
	var ack bool
	cmd := &cobra.Command{
		Use:   "get QUEUE",
		Short: "Take one message from a queue and print it",
		Long: `Take one message from QUEUE and print it as "tag=N key=K
redelivered=true|false BODY" (consume's line without consumer=), or "queue is
empty"; with -o json one JSON object, or {"empty":true}.

Without --ack the message is not acknowledged: it returns to the queue,
marked redelivered, when the command exits and its session ends.`,
		Args: nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			d, ok, err := c.Get(ctx, pos[0], client.GetOptions{})
			if err != nil {
				return err
			}
			p := a.printer()
			if !ok {
				return p.emit(map[string]bool{"empty": true}, "queue is empty")
			}
			if err := p.printDelivery(d); err != nil {
				return err
			}
			if ack {
				return d.Ack(ctx)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&ack, "ack", false, "acknowledge the message after printing it (removes it from the queue)")
	return cmd
}
