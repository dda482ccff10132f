package manage_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestQueueConsumerDetails: a queue's answer lists its consumers (tag,
// session, prefetch, ack mode), and /api/overview and the listing count
// them.
func TestQueueConsumerDetails(t *testing.T) {
	nd := startNode(t, true, false)
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/queues/%2F/work", map[string]any{})
	c, err := client.New(testCtx(t), []string{nd.n.Addr}, client.WithCredentials("guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sub, err := c.Subscribe(testCtx(t), "work", client.ConsumeOptions{Prefetch: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	deadline := time.Now().Add(10 * time.Second * transporttest.TimeoutScale())
	for {
		var q struct {
			Consumers int `json:"consumers"`
			Details   []struct {
				Tag      string `json:"consumer_tag"`
				Session  string `json:"session"`
				Prefetch int    `json:"prefetch_count"`
				Ack      bool   `json:"ack_required"`
				Active   bool   `json:"active"`
			} `json:"consumer_details"`
		}
		out := nd.expect(t, http.StatusOK, "guest", http.MethodGet, "/api/queues/%2F/work", nil)
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			t.Fatal(err)
		}
		if q.Consumers == 1 && len(q.Details) == 1 {
			d := q.Details[0]
			if d.Tag == "" || d.Session == "" || d.Prefetch != 7 || !d.Ack || !d.Active {
				t.Fatalf("consumer details: %s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no consumer listed: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
