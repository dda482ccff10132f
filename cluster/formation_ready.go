package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// readyPoll is how often WaitReady looks at a group's leader and indexes.
const readyPoll = 20 * time.Millisecond

// maxCommandScan bounds how far lastCommandIndex looks back through
// entries the FSM never sees (no-ops, configuration changes).
const maxCommandScan = 1024

// waitGroupReady waits until g has a known leader and this node's state is
// current. When this node leads g, that is leaderReady closing (the leader
// has run its Barrier and started its leader work), or, with a nil
// leaderReady, a Barrier of its own. On a follower it is having applied
// the commit index it learned once a leader was known.
func (n *Node) waitGroupReady(ctx context.Context, g *Group, leaderReady <-chan struct{}) error {
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
				if errors.Is(err, ErrGroupClosed) {
					return err
				}
			}
		default:
			if target == 0 {
				target = g.raft.CommitIndex()
			}
			if target > 0 && g.caughtUp(target) {
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

// caughtUp reports whether this node's FSM has applied every entry up to
// index. Raft's applied index runs ahead of the FSM (it counts entries
// handed over, not applied), and the FSM's own index skips entries it
// never sees, so compare the FSM's index with the last command at or
// before index.
func (g *Group) caughtUp(index uint64) bool {
	if g.raft.AppliedIndex() < index {
		return false
	}
	return g.AppliedIndex() >= g.lastCommandIndex(index)
}

// lastCommandIndex returns the index of the last LogCommand entry at or
// before index, or 0 when there is none in the log within maxCommandScan
// entries (compacted into a snapshot, which Raft restores before it
// counts the snapshot's index as applied).
func (g *Group) lastCommandIndex(index uint64) uint64 {
	first, err := g.stores.logs.FirstIndex()
	if err != nil {
		return 0
	}
	for i := index; i >= max(first, 1) && index-i < maxCommandScan; i-- {
		var l raft.Log
		if err := g.stores.logs.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
