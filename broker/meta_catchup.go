package broker

import (
	"context"
	"errors"

	"github.com/warrenmq/warren/fsm"
)

// catchUpMeta waits until this node's meta state has applied everything
// the meta leader had committed when asked. A follower learns of a commit
// up to a heartbeat late, so without this a queue or exchange that another
// client declared through another node a moment ago would be missing here:
// its messages would be dropped as unroutable (and confirmed), its
// consumers refused with NotFound. Callers use it only when a name was not
// found, so the common path pays nothing. It reports whether the state
// moved, that is whether looking again can find more.
func (b *Broker) catchUpMeta(ctx context.Context) (bool, error) {
	before := b.MetaIndex()
	target, err := b.node.LeaderCommitIndex(ctx, b.meta)
	if err != nil {
		return false, err
	}
	if target <= before {
		return false, nil
	}
	if err := b.WaitMetaIndex(ctx, target); err != nil {
		return false, err
	}
	return true, nil
}

// lookupQueueCaughtUp is lookupQueue for calls that act on the queue
// (consume, get): when this node does not know the queue, it catches up
// with the meta leader and looks again.
func (b *Broker) lookupQueueCaughtUp(ctx context.Context, vhost, name string) (*fsm.QueueDef, *queueGroup, error) {
	def, qg, err := b.lookupQueue(vhost, name)
	if !errors.Is(err, fsm.ErrNotFound) {
		return def, qg, err
	}
	if moved, cerr := b.catchUpMeta(ctx); cerr != nil || !moved {
		return nil, nil, err
	}
	return b.lookupQueue(vhost, name)
}
