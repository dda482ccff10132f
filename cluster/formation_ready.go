package cluster

import (
	"context"
	"errors"
	"fmt"
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

// readyMaxLag is how many committed entries a follower may still have to
// apply and count as ready: a follower keeping up with a busy leader is
// always a few entries behind, and one that is catching up after a
// restart is thousands behind.
const readyMaxLag = 1024

// Ready reports, without waiting, whether this node is ready to serve:
// nil when every group has a known leader and this node is current in it
// (in a group it leads, its leader work has started; in the others, it
// has applied all but readyMaxLag of the entries it knows are committed),
// else an error that names each group that is not, and why. Unlike
// WaitReady it can turn false again (an election, a partition).
func (n *Node) Ready() error {
	groups := n.groups()
	if len(groups) == 0 {
		return errors.New("no Raft groups open")
	}
	var errs []error
	for i, g := range groups {
		if err := n.groupReady(g, n.specs[i].LeaderReady); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.Name(), err))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) groupReady(g *raftgroup.Group, leaderReady <-chan struct{}) error {
	_, id := g.Leader()
	switch {
	case id == "":
		return errors.New("no leader")
	case string(id) == n.cfg.NodeID:
		if !g.IsLeader() {
			return errors.New("leadership changing")
		}
		if leaderReady != nil {
			select {
			case <-leaderReady:
			default:
				return errors.New("leader, not serving yet")
			}
		}
		return nil
	}
	// CaughtUp, not commit minus the FSM's index: entries the FSM never
	// sees (each term's no-op, configuration changes) would count as lag.
	if commit := g.CommitIndex(); commit > readyMaxLag && !g.CaughtUp(commit-readyMaxLag) {
		return fmt.Errorf("more than %d committed entries not applied yet (commit index %d, applied %d, leader %s)", readyMaxLag, commit, g.AppliedIndex(), id)
	}
	return nil
}
