package client_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// batchQueue declares a fresh queue on the test node, publishes n messages
// to it and subscribes with prefetch n; the subscription must have agreed
// on batches (Subscribed.batch).
func batchQueue(ctx context.Context, t *testing.T, n int) (*client.Client, *client.Subscription, string) {
	t.Helper()
	c, err := client.New(ctx, []string{server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	queue := fmt.Sprintf("settle-batch-%d", rand.Uint64())
	if _, err := c.DeclareQueue(ctx, queue, client.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	pubs := make([]client.Publishing, n)
	for i := range pubs {
		pubs[i] = client.Publishing{RoutingKey: queue, Message: client.Message{Body: fmt.Appendf(nil, "m%d", i)}}
	}
	if _, err := c.PublishBatch(ctx, pubs); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, queue, client.ConsumeOptions{Prefetch: n})
	if err != nil {
		t.Fatal(err)
	}
	if !client.Batched(sub) {
		t.Fatal("the node did not agree on batches")
	}
	return c, sub, queue
}

// waitCounts waits until queue shows ready and unacked messages.
func waitCounts(ctx context.Context, t *testing.T, c *client.Client, queue string, ready, unacked uint64) {
	t.Helper()
	var last []client.QueueInfo
	for ctx.Err() == nil {
		qs, err := c.ListQueues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last = qs
		for _, q := range qs {
			if q.Name == queue && q.Ready == ready && q.Unacked == unacked {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("queue %s never showed %d ready and %d unacked: %+v", queue, ready, unacked, last)
}

// Settles from many goroutines, single and multiple mixed, reach the node
// in the order they were claimed: a single ack claimed before a multiple
// one that would cover it must not arrive after it (the node would find
// its tag settled and end the stream).
func TestBatchedSettlesKeepClaimOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 400
	c, sub, queue := batchQueue(ctx, t, n)
	ds := make([]*client.Delivery, 0, n)
	for len(ds) < n {
		select {
		case d := <-sub.Deliveries():
			ds = append(ds, d)
		case <-ctx.Done():
			t.Fatalf("%d of %d deliveries", len(ds), n)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				var err error
				if i%50 == 49 {
					err = ds[i].AckMultiple(ctx)
				} else {
					err = ds[i].Ack(ctx)
				}
				if err != nil && !errors.Is(err, client.ErrAlreadySettled) {
					t.Errorf("settle %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	waitCounts(ctx, t, c, queue, 0, 0)
	if err := sub.Err(); err != nil {
		t.Fatalf("the subscription ended: %v", err)
	}
	_ = sub.Close()
}

// Close sends the settles still queued before it half-closes the stream:
// what was acked is not redelivered.
func TestCloseSendsQueuedSettles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n, acked = 300, 200
	c, sub, queue := batchQueue(ctx, t, n)
	for i := range n {
		select {
		case d := <-sub.Deliveries():
			if i < acked {
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d deliveries", i, n)
		}
	}
	_ = sub.Close()
	waitCounts(ctx, t, c, queue, n-acked, 0)
}
