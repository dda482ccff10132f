package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmq/warren/fsm"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// metaCatchUpTimeout bounds asking the meta leader for its commit index.
const metaCatchUpTimeout = 2 * time.Second

// catchUpMeta waits until this node's meta state has applied everything
// the meta leader had committed when asked. A follower learns of a commit
// up to a heartbeat late, so without this a queue or exchange that another
// client declared through another node a moment ago would be missing here:
// its messages would be dropped as unroutable (and confirmed), its
// consumers refused with NotFound. Callers use it only when a name was not
// found, so the common path pays nothing. It reports whether the state
// moved, that is whether looking again can find more.
func (n *Node) catchUpMeta(ctx context.Context) (bool, error) {
	before := n.MetaIndex()
	var target uint64
	if n.meta.IsLeader() {
		target = n.meta.Raft().CommitIndex()
	} else {
		c, err := n.leaderClient(n.meta)
		if err != nil {
			return false, err
		}
		cctx, cancel := context.WithTimeout(ctx, metaCatchUpTimeout)
		r, err := c.LocalStatus(cctx, &pb.LocalStatusRequest{})
		cancel()
		if err != nil {
			return false, err
		}
		for _, g := range r.GetGroups() {
			if g.GetGroup() == metaGroupName {
				target = g.GetCommitIndex()
			}
		}
	}
	if target <= before {
		return false, nil
	}
	if err := n.WaitMetaIndex(ctx, target); err != nil {
		return false, err
	}
	return true, nil
}

// lookupQueueCaughtUp is lookupQueue for calls that act on the queue
// (consume, get): when this node does not know the queue, it catches up
// with the meta leader and looks again.
func (n *Node) lookupQueueCaughtUp(ctx context.Context, name string) (*fsm.QueueDef, *queueGroup, error) {
	def, qg, err := n.lookupQueue(name)
	if !errors.Is(err, fsm.ErrNotFound) {
		return def, qg, err
	}
	if moved, cerr := n.catchUpMeta(ctx); cerr != nil || !moved {
		return nil, nil, err
	}
	return n.lookupQueue(name)
}
