package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// The workload's queues. Every exchange kind is exercised: the default
// exchange, direct, topic, and fanout to two queues; one queue takes an
// ordered stream; one fanout queue has no consumer until the drain, so a
// backlog sits in the Raft logs through every fault.
const (
	queueDefault = "chaos-default"
	queueDirect  = "chaos-direct"
	queueTopic   = "chaos-topic"
	queueFanLive = "chaos-fan-live"
	queueBacklog = "chaos-fan-backlog"
	queueOrdered = "chaos-ordered"

	exchangeDirect = "chaos.direct"
	exchangeTopic  = "chaos.topic"
	exchangeFanout = "chaos.fanout"
)

// queueNames lists every workload queue; Step.Queue indexes it.
var queueNames = []string{queueDefault, queueDirect, queueTopic, queueFanLive, queueBacklog, queueOrdered}

// consumedQueues have consumers during the run (the backlog queue is only
// drained at the end; the ordered queue has its own single consumer).
var consumedQueues = []string{queueDefault, queueDirect, queueTopic, queueFanLive}

// route is a way to publish: an exchange, a routing key, and the queues
// the message lands in.
type route struct {
	name     string
	exchange string
	key      string
	topic    bool // key drawn per message, matching jobs.*.high
	queues   []string
}

// routes are the routes the free producers draw from; orderedRoute is the
// ordered producer's.
var (
	routes = []route{
		{name: "default", exchange: "", key: queueDefault, queues: []string{queueDefault}},
		{name: "direct", exchange: exchangeDirect, key: "work", queues: []string{queueDirect}},
		{name: "topic", exchange: exchangeTopic, topic: true, queues: []string{queueTopic}},
		{name: "fanout", exchange: exchangeFanout, queues: []string{queueFanLive, queueBacklog}},
	}
	orderedRoute = route{name: "ordered", exchange: "", key: queueOrdered, queues: []string{queueOrdered}}
)

// topicRegions fill the middle word of topic routing keys.
var topicRegions = []string{"eu", "us", "ap", "sa"}

// routingKey returns the key of one publish on r.
func (r route) routingKey(rng *rand.Rand) string {
	if r.topic {
		return "jobs." + topicRegions[rng.IntN(len(topicRegions))] + ".high"
	}
	return r.key
}

// declareTopology declares the exchanges, queues and bindings, then waits
// until every node has applied all of it. Clients of the workload are new
// and know no meta index, so a node that had not yet applied a binding
// would route their publishes without it; the harness would then expect a
// message in a queue the broker never put it in.
func declareTopology(ctx context.Context, c *cluster, admin *client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, e := range []struct{ name, kind string }{
		{exchangeDirect, "direct"}, {exchangeTopic, "topic"}, {exchangeFanout, "fanout"},
	} {
		if err := admin.DeclareExchange(ctx, e.name, e.kind, client.ExchangeOptions{}); err != nil {
			return fmt.Errorf("declare exchange %s: %w", e.name, err)
		}
	}
	for _, q := range queueNames {
		// Unlimited deliveries: the harness counts every confirmed
		// message, and under enough faults one may be returned more than
		// the default delivery limit (20) allows, which would drop it by
		// design rather than lose it.
		o := client.QueueOptions{Args: map[string]any{"x-delivery-limit": int64(-1)}}
		if _, err := admin.DeclareQueue(ctx, q, o); err != nil {
			return fmt.Errorf("declare queue %s: %w", q, err)
		}
	}
	for _, b := range []struct{ exchange, queue, key string }{
		{exchangeDirect, queueDirect, "work"},
		{exchangeTopic, queueTopic, "jobs.*.high"},
		{exchangeFanout, queueFanLive, ""},
		{exchangeFanout, queueBacklog, ""},
	} {
		if err := admin.Bind(ctx, b.exchange, b.queue, b.key, nil); err != nil {
			return fmt.Errorf("bind %s to %s: %w", b.queue, b.exchange, err)
		}
	}
	idx := admin.MetaIndex()
	for _, n := range c.nodes {
		for {
			err := listsAll(ctx, n, idx)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("topology not applied on every node: %w", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// listsAll fails unless n has applied the meta log up to idx (the index
// of the last declaration) and lists every workload queue and binding.
func listsAll(ctx context.Context, n *node, idx uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	qs, err := n.api.ListQueues(ctx, &pb.ListQueuesRequest{MinMetaIndex: idx})
	if err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	bs, err := n.api.ListBindings(ctx, &pb.ListBindingsRequest{MinMetaIndex: idx})
	if err != nil {
		return fmt.Errorf("%s: %w", n.id, err)
	}
	have := map[string]bool{}
	for _, q := range qs.GetQueues() {
		have[q.GetName()] = true
	}
	for _, b := range bs.GetBindings() {
		have[b.GetExchange()+">"+b.GetQueue()] = true
	}
	for _, q := range queueNames {
		if !have[q] {
			return fmt.Errorf("%s does not list queue %s yet", n.id, q)
		}
	}
	for _, r := range routes {
		if r.exchange == "" {
			continue
		}
		for _, q := range r.queues {
			if !have[r.exchange+">"+q] {
				return fmt.Errorf("%s does not list the binding of %s to %s yet", n.id, q, r.exchange)
			}
		}
	}
	return nil
}
