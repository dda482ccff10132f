package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// QueueInfo is a queue's definition with its live counts.
type QueueInfo struct {
	Def        *fsm.QueueDef
	Ready      uint64
	ReadyBytes uint64
	Unacked    uint64
	Consumers  uint32
}

// DeleteQueueOptions are RabbitMQ's queue.delete conditions.
type DeleteQueueOptions struct {
	// IfUnused refuses when the queue has consumers.
	IfUnused bool
	// IfEmpty refuses when the queue has ready messages.
	IfEmpty bool
}

// proposeMeta commits a meta command and returns its result and index. A
// domain error of the state machine is returned as the error.
func (n *Node) proposeMeta(ctx context.Context, t fsm.CommandType, body proto.Message) (*fsm.Result, uint64, error) {
	data, err := fsm.Encode(fsm.Command{Type: t, Body: body})
	if err != nil {
		return nil, 0, err
	}
	res, index, err := n.proposeOrForward(ctx, n.meta, data)
	if err != nil {
		return nil, 0, err
	}
	// When the leader was elsewhere, wait until this node's copy has the
	// change, so the caller's next read here sees it.
	if err := n.WaitMetaIndex(ctx, index); err != nil {
		return nil, 0, err
	}
	if res.Err != nil {
		return res, index, res.Err
	}
	return res, index, nil
}

// DeclareExchange creates an exchange, or checks that an identical one
// exists. It returns the meta index the change committed at.
func (n *Node) DeclareExchange(ctx context.Context, c *fsmpb.DeclareExchange) (uint64, error) {
	_, idx, err := n.proposeMeta(ctx, fsm.CmdDeclareExchange, c)
	return idx, err
}

// DeleteExchange deletes an exchange and its bindings.
func (n *Node) DeleteExchange(ctx context.Context, c *fsmpb.DeleteExchange) (uint64, error) {
	_, idx, err := n.proposeMeta(ctx, fsm.CmdDeleteExchange, c)
	return idx, err
}

// Bind adds a binding; binding twice is a no-op.
func (n *Node) Bind(ctx context.Context, c *fsmpb.Bind) (uint64, error) {
	_, idx, err := n.proposeMeta(ctx, fsm.CmdBind, c)
	return idx, err
}

// Unbind removes a binding; removing a missing one is a no-op.
func (n *Node) Unbind(ctx context.Context, c *fsmpb.Unbind) (uint64, error) {
	_, idx, err := n.proposeMeta(ctx, fsm.CmdUnbind, c)
	return idx, err
}

// DeclareQueue creates a queue (placing it on a queue group), or checks
// that an identical one exists, and returns it with its counts.
func (n *Node) DeclareQueue(ctx context.Context, c *fsmpb.DeclareQueue) (QueueInfo, uint64, error) {
	res, idx, err := n.proposeMeta(ctx, fsm.CmdDeclareQueue, c)
	if err != nil {
		return QueueInfo{}, 0, err
	}
	info, err := n.QueueInfo(res.QueueName)
	return info, idx, err
}

// DeleteQueue deletes a queue, its bindings and its messages, and returns
// how many ready messages it held.
func (n *Node) DeleteQueue(ctx context.Context, name string, o DeleteQueueOptions) (uint64, uint64, error) {
	info, err := n.QueueInfo(name)
	if err != nil {
		return 0, 0, err
	}
	if o.IfUnused && info.Consumers > 0 {
		return 0, 0, fmt.Errorf("%w: queue %q has %d consumers (if-unused)", fsm.ErrPrecondition, name, info.Consumers)
	}
	if o.IfEmpty && info.Ready+info.Unacked > 0 {
		return 0, 0, fmt.Errorf("%w: queue %q has %d messages (if-empty)", fsm.ErrPrecondition, name, info.Ready+info.Unacked)
	}
	res, idx, err := n.proposeMeta(ctx, fsm.CmdDeleteQueue, &fsmpb.DeleteQueue{Name: name})
	if err != nil {
		return 0, 0, err
	}
	n.dropQueues(ctx, res.DroppedQueues)
	return info.Ready, idx, nil
}

// dropQueues tells each dropped queue's group to drop its state. A failure
// leaves state that no one can reach (the meta group no longer routes to
// it); it is logged.
func (n *Node) dropQueues(ctx context.Context, dropped []fsm.DroppedQueue) {
	for _, d := range dropped {
		qg, err := n.queueGroup(d.Group)
		if err == nil {
			_, err = qg.Propose(ctx, fsm.Command{Type: fsm.CmdDropQueue, Body: &fsmpb.DropQueue{Queue: d.ID}})
		}
		if err != nil {
			n.logger.Warn("could not drop a deleted queue's state", "queue", d.Name, "group", d.Group, "error", err)
		}
	}
}

// PurgeQueue removes a queue's ready messages and returns how many.
func (n *Node) PurgeQueue(ctx context.Context, name string) (uint64, error) {
	def, qg, err := n.lookupQueue(name)
	if err != nil {
		return 0, err
	}
	res, err := qg.Propose(ctx, fsm.Command{Type: fsm.CmdPurge, Body: &fsmpb.Purge{Queue: def.ID}})
	if err != nil {
		return 0, err
	}
	if res.Err != nil {
		// A queue never used has no state in its group yet: nothing to purge.
		return 0, nil
	}
	return res.Count, nil
}

// lookupQueue finds a queue's definition and its group.
func (n *Node) lookupQueue(name string) (*fsm.QueueDef, *queueGroup, error) {
	var def *fsm.QueueDef
	n.readMeta(func(m *fsm.Meta) { def, _ = m.Queue(name) })
	if def == nil {
		return nil, nil, fmt.Errorf("%w: no queue %q", fsm.ErrNotFound, name)
	}
	qg, err := n.queueGroup(def.Group)
	if err != nil {
		return nil, nil, err
	}
	return def, qg, nil
}

// QueueInfo returns one queue with its counts (as this node's replica of
// its group sees them).
func (n *Node) QueueInfo(name string) (QueueInfo, error) {
	def, qg, err := n.lookupQueue(name)
	if err != nil {
		return QueueInfo{}, err
	}
	return qg.info(def), nil
}

func (q *queueGroup) info(def *fsm.QueueDef) QueueInfo {
	info := QueueInfo{Def: def}
	q.fsm.read(func(g *fsm.QueueGroup) {
		if st, ok := g.QueueStats(def.ID); ok {
			info.Ready, info.ReadyBytes, info.Unacked, info.Consumers = st.Ready, st.ReadyBytes, st.Unacked, st.Consumers
		}
	})
	return info
}

// Queues lists every queue with its counts, sorted by name.
func (n *Node) Queues() []QueueInfo {
	var defs []*fsm.QueueDef
	n.readMeta(func(m *fsm.Meta) { defs = m.Queues() })
	out := make([]QueueInfo, 0, len(defs))
	for _, d := range defs {
		if qg, err := n.queueGroup(d.Group); err == nil {
			out = append(out, qg.info(d))
		}
	}
	return out
}

// Exchanges lists every exchange sorted by name.
func (n *Node) Exchanges() []fsm.ExchangeDef {
	var out []fsm.ExchangeDef
	n.readMeta(func(m *fsm.Meta) { out = m.Exchanges() })
	return out
}

// Exchange returns one exchange.
func (n *Node) Exchange(name string) (fsm.ExchangeDef, error) {
	var def fsm.ExchangeDef
	var ok bool
	n.readMeta(func(m *fsm.Meta) { def, ok = m.Exchange(name) })
	if !ok {
		return def, fmt.Errorf("%w: no exchange %q", fsm.ErrNotFound, name)
	}
	return def, nil
}

// Bindings lists bindings, optionally only of one exchange and/or queue.
func (n *Node) Bindings(exchange, queue string) []fsm.BindingDef {
	var out []fsm.BindingDef
	n.readMeta(func(m *fsm.Meta) { out = m.Bindings(exchange, queue) })
	return out
}

// maxMetaWait bounds how long a request waits for the local meta state to
// reach the index its client has already seen.
const maxMetaWait = 10 * time.Second

// WaitMetaIndex blocks until the local meta state has applied index, so a
// client never misses a change it has already seen committed.
func (n *Node) WaitMetaIndex(ctx context.Context, index uint64) error {
	f := n.metaFSM
	f.mu.RLock()
	ok := f.applied >= index
	f.mu.RUnlock()
	if ok || index == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxMetaWait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.applied < index {
		if ctx.Err() != nil {
			return fmt.Errorf("meta state has not reached index %d: %w", index, ctx.Err())
		}
		f.cond.Wait()
	}
	return nil
}

// MetaIndex is the index of the last meta command this node has applied.
// A node that proxies a request to another sends it along, so the other
// node first reaches at least the state this one has.
func (n *Node) MetaIndex() uint64 {
	n.metaFSM.mu.RLock()
	defer n.metaFSM.mu.RUnlock()
	return n.metaFSM.applied
}
