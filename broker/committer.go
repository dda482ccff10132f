package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Group commit tuning: one Enqueue entry carries up to maxBatchBytes of
// encoded messages and queue specs (entrySize), and up to maxInFlight
// entries are pipelined; while they are in flight new publishes pile up and
// go out together in the next entry. maxBatchBytes leaves
// entryHeadroomBytes of raftgroup.MaxEntrySize (half of raft's
// SuggestedMaxDataSize, so heartbeats are not starved) for the envelope,
// now_ms and size_rule, and for queue refs that need a longer varint once
// renumbered into a batch of many queues. Counting bare message sizes
// against the whole limit made a full batch of 1 KiB messages 0.3 % too
// large, and the publish failed with ErrEntryTooLarge.
const (
	entryHeadroomBytes = 1 << 10
	maxBatchBytes      = raftgroup.MaxEntrySize - entryHeadroomBytes
	maxInFlight        = 8
)

// entrySize is what m adds to the encoding of an Enqueue, as an element of
// one of its repeated fields (numbers below 16: a one-byte tag): the tag,
// the length and the message.
func entrySize(m proto.Message) int {
	n := proto.Size(m)
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

// requestSize is entrySize summed over msgs and queues: an upper bound of
// what they add to an Enqueue (queues that the batch shares are counted
// once per request).
func requestSize(queues []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) int {
	size := 0
	for _, q := range queues {
		size += entrySize(q)
	}
	for _, m := range msgs {
		size += entrySize(m)
	}
	return size
}

// enqueueReq is one publisher's share of an Enqueue: messages whose
// queue_refs index into queues.
type enqueueReq struct {
	queues []*fsmpb.QueueSpec
	msgs   []*fsmpb.EnqueueMessage
	size   int
	done   chan enqueueResp
}

type enqueueResp struct {
	outcomes []fsm.EnqueueOutcome
	err      error
}

// committer coalesces concurrent publishes to one queue group into single
// Raft entries, keeping their arrival order in the log.
type committer struct {
	g *raftgroup.Group
	// sizeRule gives the size rule of each Enqueue (sizeRuleGate.rule).
	sizeRule func() fsmpb.SizeRule
	// redelivered reports whether every server of the group applies
	// Payload.redelivered (a versionGate at dedupFlagsVersion).
	redelivered func() bool
	reqs        chan *enqueueReq
	sem         chan struct{}
	quit        chan struct{}
	wg          sync.WaitGroup
}

func newCommitter(g *raftgroup.Group, sizeRule func() fsmpb.SizeRule, redelivered func() bool) *committer {
	c := &committer{
		g:           g,
		sizeRule:    sizeRule,
		redelivered: redelivered,
		reqs:        make(chan *enqueueReq, 1024),
		sem:         make(chan struct{}, maxInFlight),
		quit:        make(chan struct{}),
	}
	c.wg.Add(1)
	go c.loop()
	return c
}

// submit enqueues msgs (in order) and waits until their entry is applied.
// The messages become part of the entry: the caller must not use them
// again (their queue_refs are renumbered into the entry's queue list).
func (c *committer) submit(ctx context.Context, queues []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error) {
	req := &enqueueReq{queues: queues, msgs: msgs, size: requestSize(queues, msgs), done: make(chan enqueueResp, 1)}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.quit:
		return nil, cluster.ErrShuttingDown
	}
	select {
	case r := <-req.done:
		return r.outcomes, r.err
	case <-ctx.Done():
		// The entry may still commit: the outcome is unknown to the caller.
		return nil, ctx.Err()
	}
}

func (c *committer) loop() {
	defer c.wg.Done()
	for {
		var first *enqueueReq
		select {
		case first = <-c.reqs:
		case <-c.quit:
			return
		}
		select {
		case c.sem <- struct{}{}:
		case <-c.quit:
			first.done <- enqueueResp{err: cluster.ErrShuttingDown}
			return
		}
		batch, size := []*enqueueReq{first}, first.size
	drain:
		for size < maxBatchBytes {
			select {
			case r := <-c.reqs:
				if size+r.size > maxBatchBytes {
					// Too big to join: it leads the next entry.
					c.apply(batch)
					batch, size = nil, 0
					select {
					case c.sem <- struct{}{}:
					case <-c.quit:
						r.done <- enqueueResp{err: cluster.ErrShuttingDown}
						return
					}
				}
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		c.apply(batch)
	}
}

// apply merges the batch into one Enqueue, hands it to Raft in order, and
// waits for the outcome on another goroutine so the next entry can be
// built meanwhile. The caller holds one sem slot, released here.
func (c *committer) apply(batch []*enqueueReq) {
	cmd := buildEnqueue(batch, c.sizeRule(), c.redelivered())
	data, err := fsm.Encode(cmd)
	if err != nil {
		<-c.sem
		failAll(batch, err)
		return
	}
	p, err := raftgroup.Append[*fsm.Result](context.Background(), c.g, data)
	if err != nil {
		<-c.sem
		failAll(batch, err)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.sem }()
		res, _, err := p.Wait(context.Background())
		if err == nil {
			err = res.Err
		}
		if err != nil {
			failAll(batch, err)
			return
		}
		off := 0
		for _, r := range batch {
			end := off + len(r.msgs)
			if end > len(res.Enqueued) {
				r.done <- enqueueResp{err: fmt.Errorf("enqueue result has %d outcomes, want %d", len(res.Enqueued), end)}
				continue
			}
			r.done <- enqueueResp{outcomes: res.Enqueued[off:end]}
			off = end
		}
	}()
}

// withoutRedelivered is p without Payload.redelivered, for a group with a
// server of a build before it (which would deliver the message unflagged
// while the others flag it). A copy: the payload may be shared with the
// Enqueue of another group whose servers all know the field.
func withoutRedelivered(p *fsmpb.Payload) *fsmpb.Payload {
	p = proto.Clone(p).(*fsmpb.Payload)
	p.Redelivered = false
	return p
}

// buildEnqueue merges the batch into one Enqueue. The messages go into
// it as they are; only their queue_refs are renumbered from their
// request's queue list into the entry's, and with flagOK false (a server
// of the group predates Payload.redelivered) a flagged payload is
// replaced by an unflagged copy.
func buildEnqueue(batch []*enqueueReq, rule fsmpb.SizeRule, flagOK bool) *fsmpb.Enqueue {
	cmd := &fsmpb.Enqueue{NowMs: nowMs(), SizeRule: rule}
	ids := map[uint64]uint32{}
	for _, r := range batch {
		remap := make([]uint32, len(r.queues))
		for i, s := range r.queues {
			ref, ok := ids[s.GetId()]
			if !ok {
				ref = uint32(len(cmd.Queues))
				ids[s.GetId()] = ref
				cmd.Queues = append(cmd.Queues, s)
			}
			remap[i] = ref
		}
		for _, m := range r.msgs {
			for i, old := range m.QueueRefs {
				m.QueueRefs[i] = remap[old]
			}
			if !flagOK && m.Payload.GetRedelivered() {
				m.Payload = withoutRedelivered(m.Payload)
			}
			cmd.Messages = append(cmd.Messages, m)
		}
	}
	return cmd
}

func failAll(batch []*enqueueReq, err error) {
	for _, r := range batch {
		r.done <- enqueueResp{err: err}
	}
}

func (c *committer) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	c.wg.Wait()
	for {
		select {
		case r := <-c.reqs:
			r.done <- enqueueResp{err: cluster.ErrShuttingDown}
		default:
			return
		}
	}
}
