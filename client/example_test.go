package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/warrenmq/warren/client"
)

// The worker pattern: declare a queue, publish with confirms, and consume
// with prefetch 1 and manual acks, so that a busy worker is skipped and an
// idle one gets the next task.
func Example_worker() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, []string{server})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.DeclareQueue(ctx, "tasks", client.QueueOptions{}); err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		// The default exchange "" routes to the queue named by the key.
		res, err := c.Publish(ctx, "", "tasks", client.Message{Body: fmt.Appendf(nil, "task %d", i)})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Status)
	}

	// Consume until three tasks are done. The handler's nil error acks the
	// delivery; an error would nack it with requeue.
	workCtx, stop := context.WithCancel(ctx)
	done := 0
	err = c.Consume(workCtx, "tasks", func(ctx context.Context, d *client.Delivery) error {
		fmt.Printf("working on %s\n", d.Body)
		if done++; done == 3 {
			stop()
		}
		return nil
	}, client.ConsumeOptions{Prefetch: 1})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// confirmed
	// confirmed
	// confirmed
	// working on task 0
	// working on task 1
	// working on task 2
}

// Polling with Get: take one message, handle it, then ack it. Until the ack
// the message belongs to this client's session.
func ExampleClient_Get() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, []string{server})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.DeclareQueue(ctx, "inbox", client.QueueOptions{}); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(ctx, "", "inbox", client.Message{Body: []byte("hello")}); err != nil {
		log.Fatal(err)
	}
	d, ok, err := c.Get(ctx, "inbox", client.GetOptions{Lease: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		fmt.Println("queue is empty")
		return
	}
	fmt.Printf("got %s\n", d.Body)
	if err := d.Ack(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// got hello
}

// Topic routing: a queue bound with "logs.*.error" receives the errors of
// every service, and Mandatory reports a message that no binding matches.
func Example_topicRouting() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, []string{server})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.DeclareExchange(ctx, "logs", "topic", client.ExchangeOptions{}); err != nil {
		log.Fatal(err)
	}
	q, err := c.DeclareQueue(ctx, "", client.QueueOptions{Exclusive: true}) // server-named
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Bind(ctx, "logs", q.Name, "logs.*.error", nil); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"logs.billing.error", "logs.billing.info", "metrics.cpu"} {
		res, err := c.Publish(ctx, "logs", key, client.Message{Body: []byte(key)}, client.Mandatory())
		if errors.Is(err, client.ErrRejected) {
			fmt.Println(key, "rejected:", res.Reason)
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(key, res.Status)
	}

	sub, err := c.Subscribe(ctx, q.Name, client.ConsumeOptions{Prefetch: 10})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	select {
	case d := <-sub.Deliveries():
		fmt.Printf("%s: %s\n", d.RoutingKey, d.Body)
		if err := d.Ack(ctx); err != nil {
			log.Fatal(err)
		}
	case <-ctx.Done():
		log.Fatal(ctx.Err())
	}
	// Output:
	// logs.billing.error confirmed
	// logs.billing.info unroutable
	// metrics.cpu unroutable
	// logs.billing.error: logs.billing.error
}

// Failover: give the client every node's address and watch its connection
// state. When the connection to a node fails, the client moves to the next
// address (with backoff between full rounds) and retries idempotent calls and
// publishes there; the callback sees Reconnecting and then Connected.
func ExampleWithStateChange() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, []string{server, "127.0.0.1:1"},
		client.WithReconnectBackoff(50*time.Millisecond, 2*time.Second),
		client.WithStateChange(func(s client.State) { fmt.Println("state:", s) }))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.ClusterStatus(ctx); err != nil {
		log.Fatal(err)
	}
	_ = c.Close()
	// Output:
	// state: connecting
	// state: connected
	// state: closed
}
