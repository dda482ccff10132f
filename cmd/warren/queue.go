package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

func newQueueCmd(a *app) *cobra.Command {
	return group("queue", "Declare, delete, purge and list queues",
		newQueueDeclareCmd(a), newQueueDeleteCmd(a), newQueuePurgeCmd(a), newQueueListCmd(a))
}

func newQueueDeclareCmd(a *app) *cobra.Command {
	var (
		o    client.QueueOptions
		args []string
	)
	cmd := &cobra.Command{
		Use:   "declare [NAME]",
		Short: "Declare a queue and print its name (server-generated when NAME is absent)",
		Long: `Declare a queue and print its name (server-generated when NAME is absent).

An --exclusive queue belongs to the CLI's session, which ends when the command
exits, so it is deleted at once; it is useful only to test a declaration.`,
		Args: nArgs(0, 1),
		PreRunE: func(*cobra.Command, []string) (err error) {
			o.Args, err = parseKV("arg", args)
			return err
		},
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			name := ""
			if len(pos) == 1 {
				name = pos[0]
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			q, err := c.DeclareQueue(ctx, name, o)
			if err != nil {
				return err
			}
			if q.Notice != "" {
				fmt.Fprintf(a.stderr, "warren: note: %s\n", q.Notice)
			}
			return a.printer().emit(map[string]any{"name": q.Name, "messages": q.Messages, "consumers": q.Consumers}, q.Name)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Exclusive, "exclusive", false, "owned by this session (deleted when the command exits)")
	f.BoolVar(&o.AutoDelete, "auto-delete", false, "delete the queue when its last consumer goes")
	f.BoolVar(&o.Passive, "passive", false, "only check that the queue exists")
	f.StringArrayVar(&args, "arg", nil, "queue argument k=v, e.g. max-length=1000 (repeatable)")
	return cmd
}

func newQueueDeleteCmd(a *app) *cobra.Command {
	var o client.DeleteQueueOptions
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a queue",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			n, err := c.DeleteQueue(ctx, pos[0], o)
			if err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"name": pos[0], "messages": n},
				fmt.Sprintf("deleted queue %q (%d messages)", pos[0], n))
		}),
	}
	cmd.Flags().BoolVar(&o.IfUnused, "if-unused", false, "refuse when the queue has consumers")
	cmd.Flags().BoolVar(&o.IfEmpty, "if-empty", false, "refuse when the queue has messages")
	return cmd
}

func newQueuePurgeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "purge NAME",
		Short: "Remove the ready messages of a queue",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			n, err := c.PurgeQueue(ctx, pos[0])
			if err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"name": pos[0], "purged": n},
				fmt.Sprintf("purged %d messages from %q", n, pos[0]))
		}),
	}
}

type queueJSON struct {
	Name       string         `json:"name"`
	Ready      uint64         `json:"ready"`
	Unacked    uint64         `json:"unacked"`
	Consumers  uint32         `json:"consumers"`
	ReadyBytes uint64         `json:"ready_bytes"`
	Exclusive  bool           `json:"exclusive"`
	AutoDelete bool           `json:"auto_delete"`
	Args       map[string]any `json:"args,omitempty"`
	// ActiveConsumer: of a single-active-consumer queue.
	ActiveConsumer string `json:"active_consumer,omitempty"`
	// Rates per second, as the leader of the queue's group counted them;
	// absent when the node that answered does not lead it.
	Rates *ratesJSON `json:"rates,omitempty"`
}

type ratesJSON struct {
	Publish5s  float64 `json:"publish_5s"`
	Publish60s float64 `json:"publish_60s"`
	Deliver5s  float64 `json:"deliver_5s"`
	Deliver60s float64 `json:"deliver_60s"`
	Ack5s      float64 `json:"ack_5s"`
	Ack60s     float64 `json:"ack_60s"`
}

// rateCell is a rate for the text table: "-" when not known.
func rateCell(known bool, v float64) string {
	if !known {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func newQueueListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List queues with their ready, unacked and consumer counts",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			qs, err := c.ListQueues(ctx)
			if err != nil {
				return err
			}
			js := make([]queueJSON, 0, len(qs))
			rows := make([][]string, 0, len(qs))
			for _, q := range qs {
				j := queueJSON{q.Name, q.Ready, q.Unacked, q.Consumers, q.ReadyBytes, q.Exclusive, q.AutoDelete, q.Args, q.ActiveConsumer, nil}
				r := q.Rates
				if r.Known {
					j.Rates = &ratesJSON{r.Publish5s, r.Publish60s, r.Deliver5s, r.Deliver60s, r.Ack5s, r.Ack60s}
				}
				js = append(js, j)
				rows = append(rows, []string{q.Name, strconv.FormatUint(q.Ready, 10),
					strconv.FormatUint(q.Unacked, 10), strconv.FormatUint(uint64(q.Consumers), 10),
					rateCell(r.Known, r.Publish5s) + "/" + rateCell(r.Known, r.Publish60s),
					rateCell(r.Known, r.Deliver5s) + "/" + rateCell(r.Known, r.Deliver60s),
					rateCell(r.Known, r.Ack5s) + "/" + rateCell(r.Known, r.Ack60s)})
			}
			return a.printer().table(js, []string{"NAME", "READY", "UNACKED", "CONSUMERS", "PUBLISH/S(5s/60s)", "DELIVER/S(5s/60s)", "ACK/S(5s/60s)"}, rows)
		}),
	}
}
