package cluster

import (
	"context"
	"sort"
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/cluster/raftgroup"
)

// GroupStatus is one Raft group as this node sees it.
type GroupStatus struct {
	Name         string
	LeaderID     string
	LeaderAddr   string
	Peers        []PeerStatus
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	Term         uint64
}

// PeerStatus is one server of a group's configuration.
type PeerStatus struct {
	ID       string
	RaftAddr string
	Suffrage string
	// Lag is how many entries the server's log is behind the leader's
	// last index; -1 when the leader or the server did not answer.
	Lag int64
	// LastIndex and AppliedIndex are the server's own (0: unknown).
	LastIndex, AppliedIndex uint64
}

// GroupStatuses describes the meta group and every queue group. It asks
// the alive peers for their indexes (each bounded by a second) to report
// every server's lag behind its group's leader.
func (n *Node) GroupStatuses(ctx context.Context) []GroupStatus {
	indexes := n.collectIndexes(ctx)
	groups := n.groups()
	out := make([]GroupStatus, 0, len(groups))
	for _, g := range groups {
		stats := g.Stats()
		addr, id := g.Leader()
		st := GroupStatus{
			Name: g.Name(), LeaderID: string(id), LeaderAddr: string(addr),
			CommitIndex: parseStat(stats, "commit_index"), AppliedIndex: parseStat(stats, "applied_index"),
			LastIndex: parseStat(stats, "last_log_index"), Term: parseStat(stats, "term"),
		}
		servers, err := g.Configuration()
		if err == nil {
			for _, s := range servers {
				p := PeerStatus{ID: string(s.ID), RaftAddr: string(s.Address), Suffrage: suffrage(s.Suffrage), Lag: -1}
				own, okOwn := indexes[p.ID][st.Name]
				leader, okLeader := indexes[st.LeaderID][st.Name]
				if okOwn {
					p.LastIndex, p.AppliedIndex = own.LastIndex, own.AppliedIndex
				}
				if okOwn && okLeader {
					p.Lag = max(0, int64(leader.LastIndex)-int64(own.LastIndex))
				}
				st.Peers = append(st.Peers, p)
			}
		}
		sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].ID < st.Peers[j].ID })
		out = append(out, st)
	}
	return out
}

func suffrage(s raft.ServerSuffrage) string {
	if s == raft.Voter {
		return "voter"
	}
	return "nonvoter"
}

func parseStat(stats map[string]string, key string) uint64 {
	v, _ := strconv.ParseUint(stats[key], 10, 64)
	return v
}

// LocalGroup is one group as this node alone sees it: no calls to peers.
type LocalGroup struct {
	Name string
	// IsLeader: this node leads the group now. LeaderID is the leader it
	// knows ("" when none).
	IsLeader bool
	LeaderID string
	// Term, CommitIndex, AppliedIndex and LastIndex are Raft's on this
	// node.
	Term, CommitIndex, AppliedIndex, LastIndex uint64
	// Snapshot is the newest snapshot kept; HasSnapshot is false when there
	// is none.
	Snapshot    raftgroup.SnapshotInfo
	HasSnapshot bool
}

// LocalGroups describes the meta group and every queue group from this
// node's Raft state only (cheap: for metrics at every scrape).
func (n *Node) LocalGroups() []LocalGroup {
	groups := n.groups()
	out := make([]LocalGroup, 0, len(groups))
	for _, g := range groups {
		st := g.Stats()
		_, id := g.Leader()
		lg := LocalGroup{
			Name: g.Name(), IsLeader: g.IsLeader(), LeaderID: string(id),
			Term: parseStat(st, "term"), CommitIndex: parseStat(st, "commit_index"),
			AppliedIndex: parseStat(st, "applied_index"), LastIndex: parseStat(st, "last_log_index"),
		}
		lg.Snapshot, lg.HasSnapshot = g.LastSnapshot()
		out = append(out, lg)
	}
	return out
}
