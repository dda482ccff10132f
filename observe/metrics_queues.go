package observe

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/warrenmq/warren/broker"
)

// queueCollector exports the queues, computed at each scrape from the
// broker's state (broker.QueueMetrics: the queues whose group this node
// leads, read under each group's lock once) — nothing is updated per
// message but the broker's event counters. Each queue is reported by the
// leader of its group only, so a cluster's series do not repeat; scrape
// every node.
type queueCollector struct {
	b        *broker.Broker
	perQueue bool

	// The node's totals over the queues it leads: always exported.
	queues, ready, readyBytes, unacked, consumers *prometheus.Desc
	published, delivered, redelivered, acked, dl  *prometheus.Desc

	// Per queue, labelled vhost and queue: with perQueue.
	qReady, qReadyBytes, qUnacked, qConsumers               *prometheus.Desc
	qPublished, qDelivered, qRedelivered, qAcked, qDeadLett *prometheus.Desc
}

// PerQueueSeries is how many series each queue adds with PerQueueMetrics.
const PerQueueSeries = 9

func newQueueCollector(b *broker.Broker, perQueue bool) *queueCollector {
	node := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	queue := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"vhost", "queue"}, nil)
	}
	const led = " Over the queues whose group this node leads."
	const since = " Counted on this node while it leads the queue's group, since the process started."
	return &queueCollector{
		b: b, perQueue: perQueue,
		queues:      node("warren_queues", "Queues whose Raft group this node leads."),
		ready:       node("warren_messages_ready", "Messages waiting for delivery."+led),
		readyBytes:  node("warren_messages_ready_bytes", "Body bytes of the messages waiting for delivery."+led),
		unacked:     node("warren_messages_unacked", "Messages delivered and not yet acknowledged."+led),
		consumers:   node("warren_consumers", "Consumers."+led),
		published:   node("warren_messages_published_total", "Messages enqueued (one per queue routed to)."+since),
		delivered:   node("warren_messages_delivered_total", "Messages delivered to consumers and gets, redeliveries included."+since),
		redelivered: node("warren_messages_redelivered_total", "Messages delivered again after a return."+since),
		acked:       node("warren_messages_acked_total", "Deliveries acknowledged."+since),
		dl:          node("warren_messages_dead_lettered_total", "Messages discarded to a dead-letter exchange."+since),

		qReady:       queue("warren_queue_messages_ready", "Messages of the queue waiting for delivery."),
		qReadyBytes:  queue("warren_queue_messages_ready_bytes", "Body bytes of the queue's messages waiting for delivery."),
		qUnacked:     queue("warren_queue_messages_unacked", "Messages of the queue delivered and not yet acknowledged."),
		qConsumers:   queue("warren_queue_consumers", "Consumers of the queue."),
		qPublished:   queue("warren_queue_messages_published_total", "Messages enqueued to the queue."+since),
		qDelivered:   queue("warren_queue_messages_delivered_total", "Messages of the queue delivered, redeliveries included."+since),
		qRedelivered: queue("warren_queue_messages_redelivered_total", "Messages of the queue delivered again after a return."+since),
		qAcked:       queue("warren_queue_messages_acked_total", "Deliveries of the queue acknowledged."+since),
		qDeadLett:    queue("warren_queue_messages_dead_lettered_total", "Messages of the queue discarded to a dead-letter exchange."+since),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.queues, c.ready, c.readyBytes, c.unacked, c.consumers, c.published, c.delivered, c.redelivered, c.acked, c.dl,
	} {
		ch <- d
	}
	if c.perQueue {
		for _, d := range []*prometheus.Desc{
			c.qReady, c.qReadyBytes, c.qUnacked, c.qConsumers, c.qPublished, c.qDelivered, c.qRedelivered, c.qAcked, c.qDeadLett,
		} {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	qs := c.b.QueueMetrics()
	var ready, readyBytes, unacked, consumers float64
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for i := range qs {
		q := &qs[i]
		ready += float64(q.Ready)
		readyBytes += float64(q.ReadyBytes)
		unacked += float64(q.Unacked)
		consumers += float64(q.Consumers)
		if !c.perQueue {
			continue
		}
		vhost, name := q.VHost, q.Name
		ch <- prometheus.MustNewConstMetric(c.qReady, gauge, float64(q.Ready), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qReadyBytes, gauge, float64(q.ReadyBytes), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qUnacked, gauge, float64(q.Unacked), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qConsumers, gauge, float64(q.Consumers), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qPublished, counter, float64(q.Published), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qDelivered, counter, float64(q.Delivered), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qRedelivered, counter, float64(q.Redelivered), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qAcked, counter, float64(q.Acked), vhost, name)
		ch <- prometheus.MustNewConstMetric(c.qDeadLett, counter, float64(q.DeadLettered), vhost, name)
	}
	t := c.b.MessageTotals()
	ch <- prometheus.MustNewConstMetric(c.queues, gauge, float64(len(qs)))
	ch <- prometheus.MustNewConstMetric(c.ready, gauge, ready)
	ch <- prometheus.MustNewConstMetric(c.readyBytes, gauge, readyBytes)
	ch <- prometheus.MustNewConstMetric(c.unacked, gauge, unacked)
	ch <- prometheus.MustNewConstMetric(c.consumers, gauge, consumers)
	ch <- prometheus.MustNewConstMetric(c.published, counter, float64(t.Published))
	ch <- prometheus.MustNewConstMetric(c.delivered, counter, float64(t.Delivered))
	ch <- prometheus.MustNewConstMetric(c.redelivered, counter, float64(t.Redelivered))
	ch <- prometheus.MustNewConstMetric(c.acked, counter, float64(t.Acked))
	ch <- prometheus.MustNewConstMetric(c.dl, counter, float64(t.DeadLettered))
}
