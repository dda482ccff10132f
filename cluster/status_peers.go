package cluster

import (
	"context"
	"sync"
	"time"
)

// GroupIndex is one node's own view of a group's log.
type GroupIndex struct {
	LastIndex, AppliedIndex, CommitIndex uint64
	// LeaderCommitComplete: this node leads the group and its commit index
	// covers all that earlier leaders confirmed (raftgroup's
	// LeaderCommitIndex).
	LeaderCommitComplete bool
	// LeaderID is the leader this node follows and LeaderSilent how long
	// ago it last heard from it (raftgroup's LeaderSilence).
	LeaderID     string
	LeaderSilent time.Duration
}

// LocalIndexes returns this node's indexes of every group, by group name.
func (n *Node) LocalIndexes() map[string]GroupIndex {
	out := map[string]GroupIndex{}
	for _, g := range n.groups() {
		st := g.Stats()
		gi := GroupIndex{
			LastIndex: parseStat(st, "last_log_index"), AppliedIndex: parseStat(st, "applied_index"),
			CommitIndex: parseStat(st, "commit_index"),
		}
		if index, ok := g.LeaderCommitIndex(); ok {
			gi.CommitIndex, gi.LeaderCommitComplete = index, true
		}
		id, silent := g.LeaderSilence()
		gi.LeaderID, gi.LeaderSilent = string(id), silent
		out[g.Name()] = gi
	}
	return out
}

// collectIndexes asks every alive peer for its LocalIndexes, in parallel
// and bounded by statusCallTimeout; peers that do not answer are missing
// from the result. This node's own indexes are included.
func (n *Node) collectIndexes(ctx context.Context) map[string]map[string]GroupIndex {
	out := map[string]map[string]GroupIndex{n.cfg.NodeID: n.LocalIndexes()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range n.RunningPeers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx, err := n.peerIndexes(ctx, m)
			if err != nil {
				return
			}
			mu.Lock()
			out[m.ID] = idx
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
