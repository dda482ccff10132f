package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

func newExchangeCmd(a *app) *cobra.Command {
	return group("exchange", "Declare, delete and list exchanges",
		newExchangeDeclareCmd(a), newExchangeDeleteCmd(a), newExchangeListCmd(a))
}

func newExchangeDeclareCmd(a *app) *cobra.Command {
	var (
		kind string
		o    client.ExchangeOptions
		args []string
	)
	cmd := &cobra.Command{
		Use:   "declare NAME --kind direct|topic|headers|fanout",
		Short: "Declare an exchange (a no-op when it exists with the same properties)",
		Args:  nArgs(1, 1),
		PreRunE: func(*cobra.Command, []string) (err error) {
			o.Args, err = parseKV("arg", args)
			return err
		},
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.DeclareExchange(ctx, pos[0], kind, o); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"name": pos[0], "kind": kind}, "declared exchange "+strconv.Quote(pos[0]))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "", "exchange kind: direct, topic, headers, fanout or x-delayed-message (with --arg x-delayed-type=KIND) (required)")
	f.BoolVar(&o.AutoDelete, "auto-delete", false, "delete the exchange when its last binding goes")
	f.BoolVar(&o.Internal, "internal", false, "refuse direct publishes")
	f.StringArrayVar(&args, "arg", nil, "exchange argument k=v (repeatable; see 'warren bind --help' for values)")
	_ = cmd.MarkFlagRequired("kind")
	return cmd
}

func newExchangeDeleteCmd(a *app) *cobra.Command {
	var o client.DeleteExchangeOptions
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an exchange and its bindings",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.DeleteExchange(ctx, pos[0], o); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"name": pos[0], "deleted": true}, "deleted exchange "+strconv.Quote(pos[0]))
		}),
	}
	cmd.Flags().BoolVar(&o.IfUnused, "if-unused", false, "refuse when the exchange has bindings")
	return cmd
}

type exchangeJSON struct {
	Name       string         `json:"name"`
	Kind       string         `json:"kind"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Builtin    bool           `json:"builtin"`
	Args       map[string]any `json:"args,omitempty"`
}

func newExchangeListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List exchanges",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			exs, err := c.ListExchanges(ctx)
			if err != nil {
				return err
			}
			js := make([]exchangeJSON, 0, len(exs))
			rows := make([][]string, 0, len(exs))
			for _, e := range exs {
				js = append(js, exchangeJSON{e.Name, e.Kind, e.AutoDelete, e.Internal, e.Builtin, e.Args})
				name := e.Name
				if name == "" {
					name = `""`
				}
				rows = append(rows, []string{name, e.Kind, strconv.FormatBool(e.AutoDelete),
					strconv.FormatBool(e.Internal), formatArgs(e.Args)})
			}
			return a.printer().table(js, []string{"NAME", "KIND", "AUTO_DELETE", "INTERNAL", "ARGS"}, rows)
		}),
	}
}
