package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

// newBindCmd returns "bind" or "unbind" (verb), which differ only in the call.
func newBindCmd(a *app, verb string) *cobra.Command {
	var (
		key  string
		args []string
		m    map[string]any
	)
	short := "Bind a queue to an exchange"
	if verb == "unbind" {
		short = "Remove a binding (key and arguments must match it exactly)"
	}
	cmd := &cobra.Command{
		Use:   verb + " EXCHANGE QUEUE",
		Short: short,
		Long: short + `.

--arg k=v is repeatable. A value that parses as an integer is sent as one,
true and false as booleans, anything else as a string; a bare k (no "=") has no
value, which in a headers binding matches on the header's presence. For a
headers exchange set x-match=all|any|all-with-x|any-with-x.`,
		Args: nArgs(2, 2),
		PreRunE: func(*cobra.Command, []string) (err error) {
			m, err = parseKV("arg", args)
			return err
		},
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			f, done := c.Bind, "bound"
			if verb == "unbind" {
				f, done = c.Unbind, "unbound"
			}
			if err := f(ctx, pos[0], pos[1], key, m); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"exchange": pos[0], "queue": pos[1], "key": key, verb: true},
				fmt.Sprintf("%s queue %q to exchange %q with key %q", done, pos[1], pos[0], key))
		}),
	}
	cmd.Flags().StringVar(&key, "key", "", "binding key")
	cmd.Flags().StringArrayVar(&args, "arg", nil, "binding argument k=v or k (repeatable)")
	return cmd
}

type bindingJSON struct {
	Exchange string         `json:"exchange"`
	Queue    string         `json:"queue"`
	Key      string         `json:"key"`
	Args     map[string]any `json:"args,omitempty"`
}

func newBindingCmd(a *app) *cobra.Command {
	var f client.BindingFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List bindings, optionally of one exchange or queue",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			bs, err := c.ListBindings(ctx, f)
			if err != nil {
				return err
			}
			js := make([]bindingJSON, 0, len(bs))
			rows := make([][]string, 0, len(bs))
			for _, b := range bs {
				js = append(js, bindingJSON(b))
				ex := b.Exchange
				if ex == "" {
					ex = `""`
				}
				rows = append(rows, []string{ex, b.Queue, b.Key, formatArgs(b.Args)})
			}
			return a.printer().table(js, []string{"EXCHANGE", "QUEUE", "KEY", "ARGS"}, rows)
		}),
	}
	list.Flags().StringVar(&f.Exchange, "exchange", "", "only bindings of this exchange")
	list.Flags().StringVar(&f.Queue, "queue", "", "only bindings of this queue")
	return group("binding", "List bindings", list)
}
