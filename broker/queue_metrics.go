package broker

import (
	"sync"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// Message counts for metrics. The state machines hold what a queue has
// (ready, unacked, consumers), not what happened to it: counters are not
// replicated state, so the broker counts events where it observes them —
// on the leader of the queue's group, from each applied command and its
// result (queueGroup.applied). A node counts only while it leads a group
// and from when its dispatcher runs, so summing a counter over the nodes
// of a cluster counts each event once (a leadership change may miss the
// entries applied between the old leader's last and the new leader's
// first count); a node that stops leading a group forgets that group's
// per-queue counts, while its totals stay (they only grow).

// MessageCounts are counts of events of messages since the process
// started, while it led the queues' groups.
type MessageCounts struct {
	// Published counts messages enqueued (confirmed; duplicates and
	// rejected ones not).
	Published uint64
	// Delivered counts messages handed to consumers and gets, redeliveries
	// included; Redelivered counts those that had been delivered before.
	Delivered, Redelivered uint64
	// Acked counts delivery tags settled by an ack (an auto-ack delivery
	// counts once it is written to its stream).
	Acked uint64
	// DeadLettered counts messages discarded to a dead-letter exchange
	// (rejected, expired, over a length limit or the delivery limit).
	DeadLettered uint64
}

func (c *MessageCounts) add(o MessageCounts) {
	c.Published += o.Published
	c.Delivered += o.Delivered
	c.Redelivered += o.Redelivered
	c.Acked += o.Acked
	c.DeadLettered += o.DeadLettered
}

// QueueMetrics is one queue for metrics: its counts in the state and the
// events counted on this node.
type QueueMetrics struct {
	VHost, Name string
	// Ready, ReadyBytes, Unacked and Consumers are fsm.QueueStats.
	Ready, ReadyBytes, Unacked uint64
	Consumers                  uint32
	MessageCounts
}

// groupCounters are a queue group's message counts on this node.
type groupCounters struct {
	mu     sync.Mutex
	queues map[uint64]*MessageCounts // by queue id, while this node leads
	rings  map[uint64]*rateRing      // by queue id: the last minute's events
	total  MessageCounts             // every queue, ever
}

// ring returns queue id's rate ring; c.mu is held.
func (c *groupCounters) ring(id uint64) *rateRing {
	if c.rings == nil {
		c.rings = map[uint64]*rateRing{}
	}
	r := c.rings[id]
	if r == nil {
		r = &rateRing{}
		c.rings[id] = r
	}
	return r
}

// rates returns queue id's rates at now (zero when nothing was counted).
func (c *groupCounters) rates(id uint64, now time.Time) Rates {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rings[id]; r != nil {
		return r.rates(now)
	}
	return Rates{Known: true}
}

// forget drops the per-queue counts (leadership lost).
func (c *groupCounters) forget() {
	c.mu.Lock()
	c.queues, c.rings = nil, nil
	c.mu.Unlock()
}

// queue returns queue id's counts; c.mu is held.
func (c *groupCounters) queue(id uint64) *MessageCounts {
	if c.queues == nil {
		c.queues = map[uint64]*MessageCounts{}
	}
	q := c.queues[id]
	if q == nil {
		q = &MessageCounts{}
		c.queues[id] = q
	}
	return q
}

// count adds what an applied command did. It runs on the leader, in log
// order, once per command.
func (c *groupCounters) count(cmd proto.Message, res *fsm.Result) {
	if res == nil || res.Err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sec := time.Now().Unix()
	var d MessageCounts
	switch b := cmd.(type) {
	case *fsmpb.Enqueue:
		for i, m := range b.GetMessages() {
			if i >= len(res.Enqueued) || res.Enqueued[i].Status != fsm.EnqueueOK {
				continue
			}
			for _, ref := range m.GetQueueRefs() {
				if int(ref) < len(b.GetQueues()) {
					c.queue(b.GetQueues()[ref].GetId()).Published++
					c.ring(b.GetQueues()[ref].GetId()).at(sec).publish++
					d.Published++
				}
			}
		}
	case *fsmpb.Settle:
		for _, it := range b.GetItems() {
			n := uint64(len(it.GetTags()))
			c.queue(it.GetQueue()).Acked += n
			c.ring(it.GetQueue()).at(sec).ack += n
			d.Acked += n
		}
	case *fsmpb.DropQueue:
		delete(c.queues, b.GetQueue())
		delete(c.rings, b.GetQueue())
	}
	deliveries := res.Deliveries
	if res.Got != nil {
		deliveries = append(deliveries[:len(deliveries):len(deliveries)], *res.Got)
	}
	for _, dv := range deliveries {
		q := c.queue(dv.Queue)
		c.ring(dv.Queue).at(sec).deliver++
		q.Delivered++
		d.Delivered++
		if dv.Redelivered {
			q.Redelivered++
			d.Redelivered++
		}
	}
	for _, dl := range res.DeadLetters {
		c.queue(dl.QueueID).DeadLettered++
		d.DeadLettered++
	}
	c.total.add(d)
}

// QueueMetrics returns the queues whose group this node leads (their
// leader reports them, so that every queue is reported by one node), in
// the order of their vhost and name, with their counts. It reads each
// group's state once, under its read lock.
func (b *Broker) QueueMetrics() []QueueMetrics {
	var defs []*fsm.QueueDef
	b.readMeta(func(m *fsm.Meta) { defs = m.Queues() })
	byGroup := map[uint32][]int{}
	for i, d := range defs {
		byGroup[d.Group] = append(byGroup[d.Group], i)
	}
	out := make([]QueueMetrics, len(defs))
	led := make([]bool, len(defs))
	for g, idx := range byGroup {
		qg, err := b.queueGroup(g)
		if err != nil || qg.disp.Load() == nil {
			continue
		}
		qg.fsm.read(func(st *fsm.QueueGroup) {
			for _, i := range idx {
				s, _ := st.QueueStats(defs[i].ID)
				out[i] = QueueMetrics{
					VHost: defs[i].VHost, Name: defs[i].Name,
					Ready: s.Ready, ReadyBytes: s.ReadyBytes, Unacked: s.Unacked, Consumers: s.Consumers,
				}
				led[i] = true
			}
		})
		qg.counters.mu.Lock()
		for _, i := range idx {
			if c := qg.counters.queues[defs[i].ID]; c != nil {
				out[i].MessageCounts = *c
			}
		}
		qg.counters.mu.Unlock()
	}
	n := 0
	for i := range out {
		if led[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

// MessageTotals sums the message counts of every queue group since this
// process started (only growing: counts of deleted queues stay).
func (b *Broker) MessageTotals() MessageCounts {
	var t MessageCounts
	for _, q := range b.queues {
		q.counters.mu.Lock()
		t.add(q.counters.total)
		q.counters.mu.Unlock()
	}
	return t
}
