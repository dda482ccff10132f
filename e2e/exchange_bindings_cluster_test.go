package e2e_test

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// TestExchangeRoutingInACluster: in a 3-node cluster (every node at FSM
// version 3, so the gates are open) an exchange-to-exchange binding, an
// alternate exchange and dead-lettering with x-death made through one node
// route through every node, and still do once the meta leader has stopped,
// where a new exchange binding can be made too.
func TestExchangeRoutingInACluster(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	ctx := testCtx(t, 120*time.Second)
	c := newClient(t, nodes[0].Addr)
	declareQueue(t, c, "cl.q", nil)
	declareQueue(t, c, "cl.caught", nil)
	declareExchange(t, c, "cl.up", "topic")
	if err := c.DeclareExchange(ctx, "cl.down", "fanout", client.ExchangeOptions{Internal: true, Args: map[string]any{"alternate-exchange": "cl.ae"}}); err != nil {
		t.Fatal(err)
	}
	declareExchange(t, c, "cl.ae", "fanout")
	if err := c.BindExchange(ctx, "cl.up", "cl.down", "a.#", nil); err != nil {
		t.Fatal(err)
	}
	bind(t, c, "cl.ae", "cl.caught", "", nil)
	declareQueue(t, c, "cl.ttl", map[string]any{"x-message-ttl": 50, "x-dead-letter-exchange": "cl.up", "x-dead-letter-routing-key": "a.dead"})

	check := func(when string, through []*transporttest.Node) {
		t.Helper()
		for _, n := range through {
			pc := newClient(t, n.Addr)
			r := &router{t: t, c: pc, queues: []string{"cl.q", "cl.caught"}}
			// cl.up → cl.down (nothing bound) → its alternate cl.ae → cl.caught.
			r.expect("cl.up", "a.b", nil, "cl.caught")
			r.expect("cl.up", "b", nil)
			publish(t, pc, "", "cl.ttl", client.Message{Body: []byte("ttl")}, client.Confirmed)
			d := getOne(t, pc, "cl.caught", true)
			if ds := deaths(t, d); len(ds) != 1 || ds[0]["queue"] != "cl.ttl" || ds[0]["reason"] != "expired" {
				t.Fatalf("%s: x-death %v", when, ds)
			}
		}
	}
	check("all nodes", nodes)

	old := metaLeader(t, nodes)
	nodes[old].Stop()
	var left []*transporttest.Node
	for i, n := range nodes {
		if i != old {
			left = append(left, n)
		}
	}
	metaLeader(t, left)
	c = newClient(t, left[0].Addr)
	if err := c.BindExchange(ctx, "cl.down", "cl.up", "", nil); err != nil { // a cycle, through the new leader
		t.Fatalf("exchange bind after the meta leader stopped: %v", err)
	}
	bind(t, c, "cl.up", "cl.q", "a.*", nil)
	for _, n := range left {
		pc := newClient(t, n.Addr)
		r := &router{t: t, c: pc, queues: []string{"cl.q", "cl.caught"}}
		// cl.down now routes (to cl.up, already seen): no alternate.
		r.expect("cl.up", "a.b", nil, "cl.q")
		publish(t, pc, "", "cl.ttl", client.Message{Body: []byte("ttl")}, client.Confirmed)
		if d := getOne(t, pc, "cl.q", true); deaths(t, d)[0]["queue"] != "cl.ttl" {
			t.Fatalf("after the meta leader stopped: x-death %v", d.Headers["x-death"])
		}
	}
}
