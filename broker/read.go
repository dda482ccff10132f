package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// Reads answer from this node's replicas: the meta state for definitions,
// each queue group's state for counts. A client that passes the meta index
// of its last write first waits for it (WaitMetaIndex).

// lookupQueue finds a queue's definition and its group.
func (b *Broker) lookupQueue(vhost, name string) (*fsm.QueueDef, *queueGroup, error) {
	var def *fsm.QueueDef
	b.readMeta(func(m *fsm.Meta) { def, _ = m.Queue(vhost, name) })
	if def == nil {
		return nil, nil, fmt.Errorf("%w: no queue %q", fsm.ErrNotFound, name)
	}
	qg, err := b.queueGroup(def.Group)
	if err != nil {
		return nil, nil, err
	}
	return def, qg, nil
}

// Queue returns one queue of vhost ("" is the default) with its counts.
func (b *Broker) Queue(vhost, name string) (Queue, error) {
	def, qg, err := b.lookupQueue(vhost, name)
	if err != nil {
		return Queue{}, err
	}
	return qg.info(def), nil
}

func (q *queueGroup) info(def *fsm.QueueDef) Queue {
	info := Queue{
		VHost: def.VHost, Name: def.Name, Exclusive: def.Exclusive, AutoDelete: def.AutoDelete, Args: fsm.RoutingArgs(def.Args), Group: def.Group,
		OwnerSession: def.OwnerSession,
	}
	q.fsm.read(func(g *fsm.QueueGroup) {
		if st, ok := g.QueueStats(def.ID); ok {
			info.Ready, info.ReadyBytes, info.Unacked, info.Consumers = st.Ready, st.ReadyBytes, st.Unacked, st.Consumers
			info.ActiveConsumer = st.ActiveConsumer
		}
	})
	if q.disp.Load() != nil {
		info.Rates = q.counters.rates(def.ID, time.Now())
	}
	return info
}

// queueDefs lists the definitions of vhost's queues, sorted by name.
func (b *Broker) queueDefs(vhost string) []*fsm.QueueDef {
	var defs []*fsm.QueueDef
	b.readMeta(func(m *fsm.Meta) { defs = m.QueuesIn(vhostName(vhost)) })
	return defs
}

// vhostName is the virtual host a caller's vhost names: "" is the default.
func vhostName(v string) string {
	if v == "" {
		return fsm.DefaultVHost
	}
	return v
}

func queueDefName(d *fsm.QueueDef) string { return d.Name }

// Exchanges lists vhost's exchanges sorted by name.
func (b *Broker) Exchanges(vhost string) []Exchange {
	var defs []fsm.ExchangeDef
	b.readMeta(func(m *fsm.Meta) { defs = m.ExchangesIn(vhostName(vhost)) })
	out := make([]Exchange, len(defs))
	for i, d := range defs {
		out[i] = exchange(d)
	}
	return out
}

// Exchange returns one exchange of vhost.
func (b *Broker) Exchange(vhost, name string) (Exchange, error) {
	var def fsm.ExchangeDef
	var ok bool
	b.readMeta(func(m *fsm.Meta) { def, ok = m.Exchange(vhost, name) })
	if !ok {
		return Exchange{}, fmt.Errorf("%w: no exchange %q", fsm.ErrNotFound, name)
	}
	return exchange(def), nil
}

// Bindings lists vhost's bindings, optionally only of one exchange and/or
// queue.
func (b *Broker) Bindings(vhost, exchange, queue string) []Binding {
	var defs []fsm.BindingDef
	b.readMeta(func(m *fsm.Meta) { defs = m.Bindings(vhostName(vhost), exchange, queue) })
	out := make([]Binding, len(defs))
	for i, d := range defs {
		out[i] = binding(d)
	}
	return out
}

// WaitMetaIndex blocks until the local meta state has applied index, so a
// client never misses a change it has already seen committed.
func (b *Broker) WaitMetaIndex(ctx context.Context, index uint64) error {
	if err := b.metaFSM.waitApplied(ctx, index); err != nil {
		return fmt.Errorf("meta %w", err)
	}
	return nil
}

// MetaIndex is the index of the last meta command this node has applied.
// A node that proxies a request to another sends it along, so the other
// node first reaches at least the state this one has.
func (b *Broker) MetaIndex() uint64 { return b.metaFSM.appliedIndex() }

// QueueConsumer is one consumer of a queue, as the replicated state of its
// group holds it.
type QueueConsumer struct {
	Session, Tag string
	// Prefetch is its credit (0: unlimited); Unacked the credit in use.
	Prefetch uint32
	AutoAck  bool
	Unacked  int
}

// QueueConsumers lists the consumers of one queue of vhost, by session and
// tag, at most limit, and whether more exist. It reads after catching up
// with the meta leader and the queue group's leader (as QueuesAfter), and
// costs the consumers of the queue's group.
func (b *Broker) QueueConsumers(ctx context.Context, vhost, name string, limit int) ([]QueueConsumer, bool, error) {
	if err := b.catchUpMeta(ctx); err != nil {
		return nil, false, err
	}
	def, qg, err := b.lookupQueue(vhost, name)
	if err != nil {
		return nil, false, err
	}
	if err := b.catchUpGroups(ctx, map[uint32]bool{def.Group: true}); err != nil {
		return nil, false, err
	}
	var out []QueueConsumer
	more := false
	qg.fsm.read(func(g *fsm.QueueGroup) {
		for _, c := range g.Consumers() {
			if c.Queue != def.ID {
				continue
			}
			if len(out) == limit {
				more = true
				return
			}
			out = append(out, QueueConsumer{Session: c.Session, Tag: c.Tag, Prefetch: c.Prefetch, AutoAck: c.AutoAck, Unacked: c.Unacked})
		}
	})
	return out, more, nil
}
