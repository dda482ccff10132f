package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestFairDispatch: with prefetch 1 and manual acks, a busy worker is
// skipped and idle ones get the next message; every message is processed
// exactly once.
func TestFairDispatch(t *testing.T) {
	n := startNode(t)
	admin := newClient(t, n.Addr)
	const q, total = "fair", 60
	declareQueue(t, admin, q, nil)

	var (
		mu        sync.Mutex
		processed = map[int]int{} // id → times processed
		perWorker [3]int
		redeliv   int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 3)
	for w := 0; w < 3; w++ {
		c := newClient(t, n.Addr)
		slow := w == 0
		go func() {
			errs <- c.Consume(ctx, q, func(hctx context.Context, d *client.Delivery) error {
				if slow {
					// The worker's own work, not a test wait.
					select {
					case <-time.After(80 * time.Millisecond):
					case <-hctx.Done():
						return hctx.Err()
					}
				}
				id, err := parseID(d.Body)
				if err != nil {
					return err
				}
				mu.Lock()
				processed[id]++
				perWorker[w]++
				if d.Redelivered {
					redeliv++
				}
				mu.Unlock()
				return nil
			}, client.ConsumeOptions{Prefetch: 1})
		}()
	}
	waitConsumers(t, admin, q, 3)

	pctx := testCtx(t, 20*time.Second)
	futs := make([]*client.PublishFuture, total)
	for i := range futs {
		futs[i] = admin.PublishAsync(pctx, "", q, client.Message{Body: []byte("job-" + strconv.Itoa(i))})
	}
	for i, f := range futs {
		if res, err := f.Wait(pctx); err != nil || res.Status != client.Confirmed {
			t.Fatalf("publish %d: %v %v", i, res.Status, err)
		}
	}

	eventually(t, 20*time.Second, "all messages processed", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(processed) < total {
			return fmt.Errorf("%d of %d distinct messages processed (per worker %v)", len(processed), total, perWorker)
		}
		return nil
	})
	waitCounts(t, admin, q, 0, 0)
	cancel()
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("consume: %v", err)
			}
		case <-time.After(scaled(10 * time.Second)):
			t.Fatal("Consume did not return after cancel")
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for id := 0; id < total; id++ {
		if processed[id] != 1 {
			t.Errorf("message %d processed %d times, want exactly once", id, processed[id])
		}
	}
	if redeliv != 0 {
		t.Errorf("%d redeliveries, want none", redeliv)
	}
	fastest := max(perWorker[1], perWorker[2])
	t.Logf("per worker (slow first): %v", perWorker)
	if perWorker[0]*2 >= fastest {
		t.Errorf("slow worker processed %d, fastest %d: want fewer than half (fair dispatch)", perWorker[0], fastest)
	}
}

// TestRoundRobin: two consumers with unlimited prefetch attached before
// publishing get the messages strictly alternately.
func TestRoundRobin(t *testing.T) {
	n := startNode(t)
	admin := newClient(t, n.Addr)
	const q, total = "rr", 20
	declareQueue(t, admin, q, nil)
	subA := subscribe(t, newClient(t, n.Addr), q, client.ConsumeOptions{})
	subB := subscribe(t, newClient(t, n.Addr), q, client.ConsumeOptions{})
	waitConsumers(t, admin, q, 2)

	publishIDs(t, admin, q, "rr-", total)

	var a, b []int
	timeout := time.NewTimer(scaled(10 * time.Second))
	defer timeout.Stop()
	for i := 0; i < total; i++ {
		select {
		case d, ok := <-subA.Deliveries():
			if !ok {
				t.Fatalf("A ended: %v", subA.Err())
			}
			a = append(a, idOf(t, d.Body))
			_ = d.Ack(context.Background())
		case d, ok := <-subB.Deliveries():
			if !ok {
				t.Fatalf("B ended: %v", subB.Err())
			}
			b = append(b, idOf(t, d.Body))
			_ = d.Ack(context.Background())
		case <-timeout.C:
			t.Fatalf("only %d of %d deliveries: A %v, B %v", len(a)+len(b), total, a, b)
		}
	}
	if len(a) == 0 || a[0] != 0 {
		a, b = b, a // the reverse assignment is as good
	}
	for i := 0; i < total/2; i++ {
		if i >= len(a) || i >= len(b) || a[i] != 2*i || b[i] != 2*i+1 {
			t.Fatalf("not strictly alternating: one consumer got %v, the other %v", a, b)
		}
	}
	waitCounts(t, admin, q, 0, 0)
}

// TestPrefetch: a consumer with prefetch 3 that does not ack has exactly 3
// deliveries out; each ack lets exactly one more through.
func TestPrefetch(t *testing.T) {
	n := startNode(t)
	admin := newClient(t, n.Addr)
	const q = "prefetch"
	declareQueue(t, admin, q, nil)
	publishIDs(t, admin, q, "p-", 10)

	sub := subscribe(t, newClient(t, n.Addr), q, client.ConsumeOptions{Prefetch: 3})
	ctx := testCtx(t, 20*time.Second)
	atMost3 := func() error {
		c, err := getCounts(ctx, admin, q)
		if err != nil {
			return err
		}
		if c.Unacked > 3 {
			return fmt.Errorf("prefetch 3 but %v", c)
		}
		return nil
	}
	var got []*client.Delivery
	for i := 0; i < 3; i++ {
		got = append(got, recv(t, sub, 5*time.Second))
		if err := atMost3(); err != nil {
			t.Fatal(err)
		}
	}
	expectNone(t, sub, 300*time.Millisecond, atMost3)
	waitCounts(t, admin, q, 7, 3)

	if err := got[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	d := recv(t, sub, 5*time.Second)
	if id := idOf(t, d.Body); id != 3 {
		t.Errorf("after one ack got message %d, want 3 (the next in order)", id)
	}
	expectNone(t, sub, 300*time.Millisecond, atMost3)
	waitCounts(t, admin, q, 6, 3)
	for i, want := range []int{0, 1, 2} {
		if id := idOf(t, got[i].Body); id != want {
			t.Errorf("delivery %d is message %d, want %d", i, id, want)
		}
	}
}
