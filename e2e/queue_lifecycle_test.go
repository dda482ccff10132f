package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
)

// queueExists reports whether name is listed.
func queueExists(t testing.TB, c *client.Client, name string) (bool, error) {
	qs, err := c.ListQueues(testCtx(t, 10*time.Second))
	if err != nil {
		return false, err
	}
	for _, q := range qs {
		if q.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// waitQueueKnown waits until the node behind c lists queue: a client of
// another node than the declaring one has not seen the declaration's meta
// index, so that node may apply it a moment later.
func waitQueueKnown(t testing.TB, c *client.Client, queue string) {
	t.Helper()
	eventually(t, 10*time.Second, "the node knows queue "+queue, func() error {
		if ok, err := queueExists(t, c, queue); err != nil || !ok {
			return fmt.Errorf("not listed yet (%v)", err)
		}
		return nil
	})
}

// TestAutoDeleteQueue: an auto-delete queue goes when its last consumer
// goes, not before (RabbitMQ's auto_delete).
func TestAutoDeleteQueue(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 20*time.Second)
	if _, err := c.DeclareQueue(ctx, "temp", client.QueueOptions{AutoDelete: true}); err != nil {
		t.Fatal(err)
	}
	a := subscribe(t, c, "temp", client.ConsumeOptions{Prefetch: 1})
	b := subscribe(t, c, "temp", client.ConsumeOptions{Prefetch: 1})
	waitConsumers(t, c, "temp", 2)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitConsumers(t, c, "temp", 1)
	if ok, err := queueExists(t, c, "temp"); err != nil || !ok {
		t.Fatalf("auto-delete queue gone while a consumer remains (exists=%t, %v)", ok, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "auto-delete queue deleted after its last consumer", func() error {
		ok, err := queueExists(t, c, "temp")
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("queue still listed")
		}
		return nil
	})
}

// TestExclusiveQueue: an exclusive queue belongs to its declaring session:
// another client cannot consume it, and it is deleted when the session ends.
func TestExclusiveQueue(t *testing.T) {
	n := startNode(t)
	owner := newClient(t, n.Addr)
	other := newClient(t, n.Addr)
	ctx := testCtx(t, 20*time.Second)
	q, err := owner.DeclareQueue(ctx, "", client.QueueOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Subscribe(ctx, q.Name, client.ConsumeOptions{Prefetch: 1})
	wantCode(t, "another session consuming an exclusive queue", err, codes.FailedPrecondition)
	_, err = other.DeclareQueue(ctx, q.Name, client.QueueOptions{Exclusive: true})
	wantCode(t, "another session re-declaring an exclusive queue", err, codes.FailedPrecondition)
	if _, err := owner.Publish(ctx, "", q.Name, client.Message{Body: []byte("mine")}); err != nil {
		t.Fatal(err)
	}
	_, err = other.PurgeQueue(ctx, q.Name)
	wantCode(t, "another session purging an exclusive queue", err, codes.FailedPrecondition)
	_, err = other.DeleteQueue(ctx, q.Name, client.DeleteQueueOptions{})
	wantCode(t, "another session deleting an exclusive queue", err, codes.FailedPrecondition)
	if n, err := owner.PurgeQueue(ctx, q.Name); err != nil || n != 1 {
		t.Fatalf("the owner purging its exclusive queue: %d, %v (want the 1 message the others could not purge)", n, err)
	}
	sub := subscribe(t, owner, q.Name, client.ConsumeOptions{Prefetch: 1})
	defer sub.Close()
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "exclusive queue deleted with its session", func() error {
		ok, err := queueExists(t, other, q.Name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("queue %s still listed", q.Name)
		}
		return nil
	})
}
