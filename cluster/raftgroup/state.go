package raftgroup

import (
	"errors"
	"slices"

	"github.com/hashicorp/raft"
)

// maxCommandScan bounds how far lastCommandIndex looks back through
// entries the FSM never sees (no-ops, configuration changes).
const maxCommandScan = 1024

// CommitIndex is the highest entry this node knows to be committed.
func (g *Group) CommitIndex() uint64 { return g.raft.CommitIndex() }

// LeaderCommitIndex returns this node's commit index and whether it is
// known to cover every committed entry: true only while this node leads
// the group and has committed an entry of its own term. A new leader
// cannot tell which of its predecessors' entries are committed until its
// first entry (Raft's no-op) commits (Raft paper §5.4.2, §8); until then
// its commit index may be short of what an earlier leader confirmed.
func (g *Group) LeaderCommitIndex() (uint64, bool) {
	if g.raft.State() != raft.Leader {
		return 0, false
	}
	term := g.raft.CurrentTerm()
	index := g.raft.CommitIndex()
	var l raft.Log
	if index == 0 || g.stores.logs.GetLog(index, &l) != nil {
		return index, false
	}
	return index, l.Term == term
}

// HasState reports whether the group has a log, a snapshot or a term: it
// was bootstrapped, or a cluster's leader or candidate has contacted it.
func (g *Group) HasState() bool {
	return g.raft.LastIndex() > 0 || g.raft.CurrentTerm() > 0
}

// BootstrapVoters returns the voters of the group's bootstrap
// configuration (log entry 1), sorted, or nil when the log no longer holds
// it (or this node was added later and never had it).
func (g *Group) BootstrapVoters() []string {
	var l raft.Log
	if err := g.stores.logs.GetLog(1, &l); err != nil || l.Type != raft.LogConfiguration || l.Term != 1 {
		return nil
	}
	return voterIDs(raft.DecodeConfiguration(l.Data).Servers)
}

// voterIDs returns the voters' ids, sorted.
func voterIDs(servers []raft.Server) []string {
	var ids []string
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	slices.Sort(ids)
	return ids
}

// CaughtUp reports whether this node's FSM has applied every entry up to
// index. Raft's applied index runs ahead of the FSM (it counts entries
// handed over, not applied), and the FSM's own index skips entries it
// never sees, so compare the FSM's index with the last command at or
// before index.
func (g *Group) CaughtUp(index uint64) bool {
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

// SnapshotInfo describes a snapshot the group keeps on disk.
type SnapshotInfo struct {
	// Index and Term are those of the last entry the snapshot covers.
	Index, Term uint64
	// Size is the snapshot's size in bytes.
	Size int64
}

// LastSnapshot returns the newest snapshot the group keeps, and false when
// it has none (or the snapshot directory cannot be read). It reads the
// snapshot directory's metadata files.
func (g *Group) LastSnapshot() (SnapshotInfo, bool) {
	metas, err := g.stores.snaps.List()
	if err != nil || len(metas) == 0 {
		return SnapshotInfo{}, false
	}
	m := metas[0] // newest first
	return SnapshotInfo{Index: m.Index, Term: m.Term, Size: m.Size}, true
}

// Snapshot takes a snapshot of the group now, whatever its threshold
// (hashicorp/raft's user snapshot), and compacts the log as a threshold
// snapshot would. Nothing applied since the last snapshot is no error. It
// waits for the snapshot to be persisted; it must not be called from the
// state machine's Apply.
func (g *Group) Snapshot() error {
	err := g.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}
