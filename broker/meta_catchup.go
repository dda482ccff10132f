package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
)

// catchUpPoll paces waitMetaCaughtUp. A follower learns of a commit
// within the leader's commit timeout, so the wait is short and the poll
// cheap (a look at the tail of the log).
const catchUpPoll = 2 * time.Millisecond

// catchUpMeta waits until this node's meta state has applied everything
// the meta leader had committed when asked. A follower learns of a commit
// up to a heartbeat late, so without this a queue or exchange that another
// client declared through another node a moment ago would be missing here:
// its messages would be dropped as unroutable (and confirmed), its
// consumers refused with NotFound. Callers use it only when a name was not
// found, so the common path pays nothing, and look again once it returns
// nil: the state is then known current, and a name still missing is
// missing.
//
// The target is a Raft index, not a command index: the leader's commit
// index is often a no-op (every new leader's first entry) or a
// configuration change, which the state machine never sees, so waiting
// for the state's own index to reach it would wait until some later
// declaration (raftgroup.Group.CaughtUp compares the right indexes).
func (b *Broker) catchUpMeta(ctx context.Context) error {
	return b.catchUp(ctx, b.meta)
}

// catchUp waits until this node's copy of group g has applied everything
// g's leader had committed when asked (at once when this node leads g).
func (b *Broker) catchUp(ctx context.Context, g *raftgroup.Group) error {
	target, err := b.node.LeaderCommitIndex(ctx, g)
	if err != nil {
		return err
	}
	return waitCaughtUp(ctx, g, target)
}

// waitCaughtUp waits (at most maxApplyWait) until this node's copy of g
// has applied every command up to Raft index target.
func waitCaughtUp(ctx context.Context, g *raftgroup.Group, target uint64) error {
	if g.CaughtUp(target) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxApplyWait)
	defer cancel()
	t := time.NewTicker(catchUpPoll)
	defer t.Stop()
	for !g.CaughtUp(target) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s state has not reached index %d: %w", g.Name(), target, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// catchUpGroups runs catchUp on the queue groups numbered in groups, in
// parallel, and returns the first error.
func (b *Broker) catchUpGroups(ctx context.Context, groups map[uint32]bool) error {
	errs := make(chan error, len(groups))
	for g := range groups {
		go func() {
			qg, err := b.queueGroup(g)
			if err == nil {
				err = b.catchUp(ctx, qg.group)
			}
			errs <- err
		}()
	}
	var first error
	for range groups {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lookupQueueCaughtUp is lookupQueue for calls that act on the queue
// (consume, get): when this node does not know the queue, it catches up
// with the meta leader and looks again.
func (b *Broker) lookupQueueCaughtUp(ctx context.Context, vhost, name string) (*fsm.QueueDef, *queueGroup, error) {
	def, qg, err := b.lookupQueue(vhost, name)
	if !errors.Is(err, fsm.ErrNotFound) {
		return def, qg, err
	}
	if cerr := b.catchUpMeta(ctx); cerr != nil {
		return nil, nil, err
	}
	return b.lookupQueue(vhost, name)
}
