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
// exchange, direct, topic, fanout to two queues, and a delayed-message
// exchange; one queue takes an ordered stream; one fanout queue has no
// consumer until the drain, so a backlog sits in the Raft logs through
// every fault; one queue has a single active consumer among several; and
// one queue (the dead-letter source) has no consumer at all: its messages
// expire and are dead-lettered, at least once, into a consumed target.
const (
	queueDefault  = "chaos-default"
	queueDirect   = "chaos-direct"
	queueTopic    = "chaos-topic"
	queueFanLive  = "chaos-fan-live"
	queueBacklog  = "chaos-fan-backlog"
	queueOrdered  = "chaos-ordered"
	queueSAC      = "chaos-sac"
	queueDelayed  = "chaos-delayed"
	queueDLTarget = "chaos-dl-target"
	queueDLSource = "chaos-dl-source"

	exchangeDirect  = "chaos.direct"
	exchangeTopic   = "chaos.topic"
	exchangeFanout  = "chaos.fanout"
	exchangeDelayed = "chaos.delayed"

	// dlTTL is the message TTL of the dead-letter source: every message
	// published there expires after it and is dead-lettered.
	dlTTL = 200 * time.Millisecond
	// minDelay and maxDelay bound the x-delay of a message on the delayed
	// route, drawn per message.
	minDelay, maxDelay = 50 * time.Millisecond, 500 * time.Millisecond
)

// queueNames lists every workload queue, in declaration order (the
// dead-letter target before its source); Step.Queue indexes it.
var queueNames = []string{queueDefault, queueDirect, queueTopic, queueFanLive, queueBacklog, queueOrdered,
	queueSAC, queueDelayed, queueDLTarget, queueDLSource}

// consumedQueues have consumers during the run (the backlog queue is only
// drained at the end; the ordered queue has its own single consumer; the
// dead-letter source is never consumed).
var consumedQueues = []string{queueDefault, queueDirect, queueTopic, queueFanLive, queueSAC, queueDelayed, queueDLTarget}

// queueArgs returns the arguments of workload queue q. Every queue has
// unlimited deliveries: the harness counts every confirmed message, and
// under enough faults one may be returned more than the default delivery
// limit (20) allows, which would drop it by design rather than lose it.
func queueArgs(q string) map[string]any {
	args := map[string]any{"x-delivery-limit": int64(-1)}
	switch q {
	case queueSAC:
		args["x-single-active-consumer"] = true
	case queueDLSource:
		args["x-dead-letter-exchange"] = ""
		args["x-dead-letter-routing-key"] = queueDLTarget
		args["x-dead-letter-strategy"] = "at-least-once"
		args["x-overflow"] = "reject-publish"
		args["x-message-ttl"] = dlTTL.Milliseconds()
	}
	return args
}

// route is a way to publish: an exchange, a routing key, and the queues
// the message lands in (where the checker expects it delivered).
type route struct {
	name     string
	exchange string
	key      string
	topic    bool // key drawn per message, matching jobs.*.high
	delay    bool // an x-delay drawn per message in [minDelay, maxDelay)
	queues   []string
}

// routes are the routes the free producers draw from; orderedRoute is the
// ordered producer's. The dead-letter route publishes to the source queue
// but expects the message in the target: the checker counts a message
// confirmed into the source as delivered when it arrives there.
var (
	routes = []route{
		{name: "default", exchange: "", key: queueDefault, queues: []string{queueDefault}},
		{name: "direct", exchange: exchangeDirect, key: "work", queues: []string{queueDirect}},
		{name: "topic", exchange: exchangeTopic, topic: true, queues: []string{queueTopic}},
		{name: "fanout", exchange: exchangeFanout, queues: []string{queueFanLive, queueBacklog}},
		{name: "sac", exchange: "", key: queueSAC, queues: []string{queueSAC}},
		{name: "delayed", exchange: exchangeDelayed, key: "later", delay: true, queues: []string{queueDelayed}},
		{name: "dead-letter", exchange: "", key: queueDLSource, queues: []string{queueDLTarget}},
	}
	orderedRoute = route{name: "ordered", exchange: "", key: queueOrdered, queues: []string{queueOrdered}}
)

// topicRegions fill the middle word of topic routing keys.
var topicRegions = []string{"eu", "us", "ap", "sa"}

// publishOptions returns the options of one publish on r.
func (r route) publishOptions(rng *rand.Rand) []client.PublishOption {
	if r.delay {
		return []client.PublishOption{client.Delay(minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay))))}
	}
	return nil
}

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
	for _, e := range []struct {
		name, kind string
		args       map[string]any
	}{
		{exchangeDirect, "direct", nil}, {exchangeTopic, "topic", nil}, {exchangeFanout, "fanout", nil},
		{exchangeDelayed, "x-delayed-message", map[string]any{"x-delayed-type": "direct"}},
	} {
		if err := admin.DeclareExchange(ctx, e.name, e.kind, client.ExchangeOptions{Args: e.args}); err != nil {
			return fmt.Errorf("declare exchange %s: %w", e.name, err)
		}
	}
	for _, q := range queueNames {
		o := client.QueueOptions{Args: queueArgs(q)}
		if _, err := admin.DeclareQueue(ctx, q, o); err != nil {
			return fmt.Errorf("declare queue %s: %w", q, err)
		}
	}
	for _, b := range []struct{ exchange, queue, key string }{
		{exchangeDirect, queueDirect, "work"},
		{exchangeTopic, queueTopic, "jobs.*.high"},
		{exchangeFanout, queueFanLive, ""},
		{exchangeFanout, queueBacklog, ""},
		{exchangeDelayed, queueDelayed, "later"},
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
