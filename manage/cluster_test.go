package manage_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestThreeNodes: every node of a cluster answers the API the same way. A
// queue declared through one node is listed with its count by the others
// (their reads catch up with the leaders), and a get through a node that
// does not lead the queue's group is proxied to the leader and requeues
// there.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("three in-process nodes: runs without -short")
	}
	ns := transporttest.StartCluster(t, 3, transporttest.Options{Access: &access.Options{}})
	addUsers(t, ns[0].Broker)
	nds := make([]*node, len(ns))
	for i, n := range ns {
		nds[i] = serve(t, n, true, false)
	}
	nds[0].expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/queues/%2F/spread", map[string]any{})
	nds[1].expect(t, http.StatusOK, "guest", http.MethodPost, "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": "spread", "payload": "one"})
	proxied := false
	for i, nd := range nds {
		out := nd.expect(t, http.StatusOK, "guest", http.MethodGet, "/api/queues/%2F/spread", nil)
		if !strings.Contains(out, `"messages_ready":1,`) {
			t.Fatalf("node %d lists %s", i+1, out)
		}
		out = nd.expect(t, http.StatusOK, "guest", http.MethodPost, "/api/queues/%2F/spread/get", map[string]any{"count": 1, "ackmode": "ack_requeue_true"})
		if !strings.Contains(out, `"payload":"one"`) {
			t.Fatalf("get through node %d: %s", i+1, out)
		}
		waitReady(t, nd, "spread", 1)
		out = nd.expect(t, http.StatusOK, "guest", http.MethodGet, "/api/nodes", nil)
		if strings.Count(out, `"alive"`) != 3 {
			t.Fatalf("node %d's members: %s", i+1, out)
		}
		q, err := ns[i].Broker.Queue("/", "spread")
		if err != nil {
			t.Fatal(err)
		}
		if !q.Rates.Known { // this node does not lead the group: its get was proxied
			proxied = true
		}
	}
	if !proxied {
		t.Fatal("every node leads the queue's group: the proxied get was not exercised")
	}
}
