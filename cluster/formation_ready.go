package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// readyPoll is how often WaitReady looks at a group's leader and indexes.
const readyPoll = 20 * time.Millisecond

// waitGroupReady waits until g has a known leader and this node's state is
// current. When this node leads g, that is leaderReady closing (the leader
// has run its Barrier and started its leader work), or, with a nil
// leaderReady, a Barrier of its own. On a follower it is having applied
// the commit index it learned once a leader was known.
func (n *Node) waitGroupReady(ctx context.Context, g *raftgroup.Group, leaderReady <-chan struct{}) error {
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	var target uint64
	for {
		_, id := g.Leader()
		switch {
		case id == "":
		case string(id) == n.cfg.NodeID:
			if leaderReady != nil {
				select {
				case <-leaderReady:
					return nil
				default:
				}
			} else if g.IsLeader() {
				err := g.Barrier(ctx)
				if err == nil || ctx.Err() != nil {
					return err
				}
				if errors.Is(err, raftgroup.ErrGroupClosed) {
					return err
				}
			}
		default:
			if target == 0 {
				target = g.CommitIndex()
			}
			if target > 0 && g.CaughtUp(target) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
