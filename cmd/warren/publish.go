package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

// maxStdinBody bounds a body read from stdin.
const maxStdinBody = 64 << 20

// publishWindow is how many confirms publish --count awaits at once.
const publishWindow = 1024

func newPublishCmd(a *app) *cobra.Command {
	var (
		headers   []string
		mandatory bool
		count     int
		msg       client.Message
		delay     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "publish EXCHANGE ROUTING_KEY [BODY]",
		Short: "Publish a message and wait for its confirm",
		Long: `Publish a message (BODY, or stdin when BODY is absent) to EXCHANGE with
ROUTING_KEY and wait for the server's confirm. Use "" for the default exchange,
which routes to the queue named by the routing key.

It prints the outcome: confirmed, unroutable (only with --mandatory: no queue
took the message) or rejected (a queue refused it, e.g. full with
reject-publish); with --count N it prints the counts. The exit status is 1
when any message was unroutable or rejected, so scripts can rely on it.`,
		Args: nArgs(2, 3),
		RunE: func(cmd *cobra.Command, pos []string) error {
			if count < 1 {
				return usagef("--count must be at least 1")
			}
			var err error
			if msg.Headers, err = parseKV("header", headers); err != nil {
				return err
			}
			if len(pos) == 3 {
				msg.Body = []byte(pos[2])
			} else if msg.Body, err = readBody(a.stdin); err != nil {
				return asRunError(err)
			}
			return a.action(func(ctx context.Context, c *client.Client, _ []string) error {
				return publish(ctx, a, c, pos[0], pos[1], msg, mandatory, delay, count)
			})(cmd, pos)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&headers, "header", nil, "header k=v or k (repeatable; integers and true/false are typed)")
	f.BoolVar(&mandatory, "mandatory", false, "report the message as unroutable when no queue takes it")
	f.DurationVar(&delay, "delay", 0, "on an exchange of kind x-delayed-message, route the message only after this long (sets the x-delay header)")
	f.IntVar(&count, "count", 1, "publish the same message N times")
	f.StringVar(&msg.ContentType, "content-type", "", "content type property")
	f.StringVar(&msg.MessageID, "message-id", "", "message id property")
	f.StringVar(&msg.CorrelationID, "correlation-id", "", "correlation id property")
	f.StringVar(&msg.ReplyTo, "reply-to", "", "reply-to property")
	f.DurationVar(&msg.Expiration, "expiration", 0, "per-message time to live (0: none)")
	f.Uint8Var(&msg.Priority, "priority", 0, "message priority")
	return cmd
}

func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxStdinBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body from stdin: %w", err)
	}
	if len(b) > maxStdinBody {
		return nil, fmt.Errorf("body on stdin exceeds %d bytes", maxStdinBody)
	}
	return b, nil
}

type publishCounts struct {
	Published  int `json:"published"`
	Confirmed  int `json:"confirmed"`
	Unroutable int `json:"unroutable"`
	Rejected   int `json:"rejected"`
	reason     string
}

func publish(ctx context.Context, a *app, c *client.Client, exchange, key string, msg client.Message, mandatory bool, delay time.Duration, count int) error {
	var opts []client.PublishOption
	if mandatory {
		opts = append(opts, client.Mandatory())
	}
	if delay > 0 {
		opts = append(opts, client.Delay(delay))
	}
	msg.Timestamp = time.Now()
	var n publishCounts
	futs := make([]*client.PublishFuture, 0, min(count, publishWindow))
	for sent := 0; sent < count; {
		futs = futs[:0]
		for ; sent < count && len(futs) < publishWindow; sent++ {
			futs = append(futs, c.PublishAsync(ctx, exchange, key, msg, opts...))
		}
		wctx, cancel := a.opCtx(ctx)
		err := n.await(wctx, futs)
		cancel()
		if err != nil {
			return err
		}
	}
	var text string
	switch {
	case count > 1:
		text = fmt.Sprintf("published %d: confirmed=%d unroutable=%d rejected=%d", n.Published, n.Confirmed, n.Unroutable, n.Rejected)
	case n.Rejected == 1:
		text = "rejected: " + n.reason
	case n.Unroutable == 1:
		text = "unroutable"
	default:
		text = "confirmed"
	}
	if err := a.printer().emit(n, text); err != nil {
		return err
	}
	var problems []string
	if n.Unroutable > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d messages unroutable", n.Unroutable, count))
	}
	if n.Rejected > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d messages rejected: %s", n.Rejected, count, n.reason))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// await waits for futs and counts their outcomes; it fails on the first
// error other than a rejection.
func (n *publishCounts) await(ctx context.Context, futs []*client.PublishFuture) error {
	for _, f := range futs {
		res, err := f.Wait(ctx)
		if err != nil && !errors.Is(err, client.ErrRejected) {
			return err
		}
		n.Published++
		switch res.Status {
		case client.Confirmed:
			n.Confirmed++
		case client.Unroutable:
			n.Unroutable++
		case client.Rejected:
			n.Rejected++
			n.reason = res.Reason
		}
	}
	return nil
}
