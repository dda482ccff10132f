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
		key      string
		args     []string
		m        map[string]any
		destType string
		dest     client.DestinationKind
	)
	short := "Bind a queue (or, with --destination-type exchange, an exchange) to an exchange"
	if verb == "unbind" {
		short = "Remove a binding (key, arguments and destination type must match it exactly)"
	}
	cmd := &cobra.Command{
		Use:   verb + " EXCHANGE DESTINATION",
		Short: short,
		Long: short + `.

DESTINATION is a queue, or with --destination-type exchange another exchange
(an exchange-to-exchange binding, RabbitMQ's exchange.bind): what EXCHANGE
routes there goes on through DESTINATION as if published to it, and each
queue reached gets one copy. It needs write permission on DESTINATION and
read on EXCHANGE.

--arg k=v is repeatable. A value that parses as an integer is sent as one,
true and false as booleans, anything else as a string; a bare k (no "=") has no
value, which in a headers binding matches on the header's presence. For a
headers exchange set x-match=all|any|all-with-x|any-with-x.`,
		Args: nArgs(2, 2),
		PreRunE: func(*cobra.Command, []string) (err error) {
			if dest, err = parseDestinationType(destType, false); err != nil {
				return err
			}
			m, err = parseKV("arg", args)
			return err
		},
		RunE: a.action(func(ctx context.Context, c *client.Client, pos []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			f, done := c.Bind, "bound"
			switch {
			case verb == "unbind" && dest == client.ExchangeDestination:
				f, done = c.UnbindExchange, "unbound"
			case verb == "unbind":
				f, done = c.Unbind, "unbound"
			case dest == client.ExchangeDestination:
				f = c.BindExchange
			}
			if err := f(ctx, pos[0], pos[1], key, m); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"exchange": pos[0], "queue": pos[1], "destination_type": dest.String(), "key": key, verb: true},
				fmt.Sprintf("%s %s %q to exchange %q with key %q", done, dest, pos[1], pos[0], key))
		}),
	}
	cmd.Flags().StringVar(&key, "key", "", "binding key")
	cmd.Flags().StringArrayVar(&args, "arg", nil, "binding argument k=v or k (repeatable)")
	cmd.Flags().StringVar(&destType, "destination-type", "queue", "what DESTINATION is: queue or exchange")
	return cmd
}

// parseDestinationType reads --destination-type: queue or exchange, and
// where any is allowed (a listing's filter) "" or any.
func parseDestinationType(s string, anyOK bool) (client.DestinationKind, error) {
	switch {
	case s == "queue":
		return client.QueueDestination, nil
	case s == "exchange":
		return client.ExchangeDestination, nil
	case anyOK && (s == "" || s == "any"):
		return client.AnyDestination, nil
	}
	if anyOK {
		return 0, fmt.Errorf("--destination-type must be queue, exchange or any, not %q", s)
	}
	return 0, fmt.Errorf("--destination-type must be queue or exchange, not %q", s)
}

type bindingJSON struct {
	Exchange        string         `json:"exchange"`
	Queue           string         `json:"queue"`
	DestinationType string         `json:"destination_type"`
	Key             string         `json:"key"`
	Args            map[string]any `json:"args,omitempty"`
}

func newBindingCmd(a *app) *cobra.Command {
	var (
		f        client.BindingFilter
		destType string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List bindings, optionally of one exchange, destination or destination type",
		Args:  nArgs(0, 0),
		PreRunE: func(*cobra.Command, []string) (err error) {
			f.Destination, err = parseDestinationType(destType, true)
			return err
		},
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
				js = append(js, bindingJSON{Exchange: b.Exchange, Queue: b.Queue, DestinationType: b.Destination.String(), Key: b.Key, Args: b.Args})
				ex := b.Exchange
				if ex == "" {
					ex = `""`
				}
				rows = append(rows, []string{ex, b.Queue, b.Destination.String(), b.Key, formatArgs(b.Args)})
			}
			return a.printer().table(js, []string{"EXCHANGE", "DESTINATION", "TYPE", "KEY", "ARGS"}, rows)
		}),
	}
	list.Flags().StringVar(&f.Exchange, "exchange", "", "only bindings of this exchange")
	list.Flags().StringVar(&f.Queue, "queue", "", "only bindings to a destination of this name")
	list.Flags().StringVar(&destType, "destination-type", "any", "only bindings to a queue or to an exchange: queue, exchange or any")
	return group("binding", "List bindings", list)
}
