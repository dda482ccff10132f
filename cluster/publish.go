package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// PublishItem is one message to route and enqueue.
type PublishItem struct {
	Exchange   string
	RoutingKey string
	// Headers are the payload's headers in routing form (for headers
	// exchanges).
	Headers   map[string]routing.Value
	Payload   *fsmpb.Payload
	Mandatory bool
	// ProducerID and Sequence deduplicate retries; zero values disable it.
	ProducerID string
	Sequence   uint64
}

// PublishStatus is the fate of one published message.
type PublishStatus uint8

// Publish outcomes.
const (
	// PublishConfirmed: committed in every queue it was routed to (or
	// routed nowhere without mandatory: dropped, as RabbitMQ does).
	PublishConfirmed PublishStatus = 1
	// PublishUnroutable: routed to no queue, with mandatory.
	PublishUnroutable PublishStatus = 2
	// PublishRejected: a target queue refused it (overflow reject-publish).
	PublishRejected PublishStatus = 3
)

// PublishOutcome is the result for one PublishItem.
type PublishOutcome struct {
	Status PublishStatus
	Reason string
}

// Publish routes every item with the local meta state and enqueues the
// copies, one Enqueue per queue group (coalesced with concurrent
// publishes), and returns once all of them committed. When an item routes
// to no queue, or its exchange is unknown, the node first catches up with
// the meta leader and routes again (catchUpMeta), so a queue, exchange or
// binding committed before the publish arrived is never missed. An unknown
// exchange fails the whole call before anything is enqueued; a target queue
// deleted meanwhile fails it with ErrNotFound.
func (n *Node) Publish(ctx context.Context, items []PublishItem) ([]PublishOutcome, error) {
	outcomes, perGroup, unrouted, err := n.route(items)
	if unrouted || errors.Is(err, fsm.ErrNotFound) {
		// Maybe declared a moment ago through another node: catch up
		// with the meta leader before dropping or refusing anything.
		if moved, cerr := n.catchUpMeta(ctx); cerr == nil && moved {
			outcomes, perGroup, _, err = n.route(items)
		}
	}
	if err != nil {
		return nil, err
	}
	return n.enqueueShares(ctx, outcomes, perGroup)
}

// route routes every item with the local meta state: the outcomes so far
// (Confirmed, or Unroutable for mandatory items that found no queue), the
// copies per queue group, and whether any item found no queue.
func (n *Node) route(items []PublishItem) ([]PublishOutcome, map[uint32]*groupShare, bool, error) {
	outcomes := make([]PublishOutcome, len(items))
	perGroup := map[uint32]*groupShare{}
	unrouted := false
	var routeErr error
	n.readMeta(func(m *fsm.Meta) {
		for i, it := range items {
			queues, err := m.Route(it.Exchange, it.RoutingKey, it.Headers)
			if err != nil {
				routeErr = err
				return
			}
			outcomes[i].Status = PublishConfirmed
			if len(queues) == 0 {
				unrouted = true
				if it.Mandatory {
					outcomes[i].Status = PublishUnroutable
				}
				continue
			}
			for _, q := range queues {
				share := perGroup[q.Group]
				if share == nil {
					share = &groupShare{refs: map[uint64]uint32{}, msgOf: map[int]int{}}
					perGroup[q.Group] = share
				}
				share.add(i, it, q)
			}
		}
	})
	return outcomes, perGroup, unrouted, routeErr
}

// enqueueShares enqueues each group's share of a routed publish and
// returns the outcomes once every group committed.
func (n *Node) enqueueShares(ctx context.Context, outcomes []PublishOutcome, perGroup map[uint32]*groupShare) ([]PublishOutcome, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for g, share := range perGroup {
		qg, err := n.queueGroup(g)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := qg.enqueue(ctx, share)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for j, item := range share.items {
				merge(&outcomes[item], res[j])
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for i := range outcomes {
		if outcomes[i].Status == 0 {
			return nil, fmt.Errorf("%w: %s", fsm.ErrNotFound, outcomes[i].Reason)
		}
	}
	return outcomes, nil
}

// merge folds one group's outcome for a message into its overall outcome;
// Status 0 marks a queue that vanished (reported as not found).
func merge(o *PublishOutcome, e fsm.EnqueueOutcome) {
	switch e.Status {
	case fsm.EnqueueNoQueue:
		o.Status, o.Reason = 0, e.Reason
	case fsm.EnqueueRejected:
		if o.Status != 0 {
			o.Status, o.Reason = PublishRejected, e.Reason
		}
	}
}

// groupShare is the part of a publish that goes to one queue group.
type groupShare struct {
	specs []*fsmpb.QueueSpec
	refs  map[uint64]uint32
	msgs  []*fsmpb.EnqueueMessage
	items []int       // item index of each msg
	msgOf map[int]int // item index → msg index
}

func (s *groupShare) add(item int, it PublishItem, q *fsm.QueueDef) {
	ref, ok := s.refs[q.ID]
	if !ok {
		ref = uint32(len(s.specs))
		s.refs[q.ID] = ref
		s.specs = append(s.specs, q.Spec)
	}
	if j, ok := s.msgOf[item]; ok {
		s.msgs[j].QueueRefs = append(s.msgs[j].QueueRefs, ref)
		return
	}
	s.msgOf[item] = len(s.msgs)
	s.items = append(s.items, item)
	s.msgs = append(s.msgs, &fsmpb.EnqueueMessage{
		QueueRefs: []uint32{ref}, Payload: it.Payload, ProducerId: it.ProducerID, Sequence: it.Sequence,
	})
}

// enqueue commits a share, split into entries of at most maxBatchBytes,
// and returns one outcome per message.
func (q *queueGroup) enqueue(ctx context.Context, s *groupShare) ([]fsm.EnqueueOutcome, error) {
	submit := q.commit.submit
	if _, err := q.dispatcher(); err != nil {
		var nle *NotLeaderError
		if !errors.As(err, &nle) {
			return nil, err
		}
		submit = func(ctx context.Context, specs []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error) {
			return q.n.forwardEnqueue(ctx, q, specs, msgs)
		}
	}
	var out []fsm.EnqueueOutcome
	start, size := 0, 0
	for i, m := range s.msgs {
		sz := proto.Size(m)
		if i > start && size+sz > maxBatchBytes {
			res, err := submit(ctx, s.specs, s.msgs[start:i])
			if err != nil {
				return nil, err
			}
			out = append(out, res...)
			start, size = i, 0
		}
		size += sz
	}
	res, err := submit(ctx, s.specs, s.msgs[start:])
	if err != nil {
		return nil, err
	}
	return append(out, res...), nil
}
