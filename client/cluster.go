package client

import (
	"context"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// ClusterStatus is the cluster as the answering node sees it.
type ClusterStatus struct {
	NodeID  string          `json:"node_id"`
	Members []ClusterMember `json:"members"`
	Groups  []GroupStatus   `json:"groups"`
}

// ClusterMember is one node of the cluster.
type ClusterMember struct {
	ID       string `json:"id"`
	Zone     string `json:"zone"`
	GRPCAddr string `json:"grpc_addr"`
	RaftAddr string `json:"raft_addr"`
	// State is "alive", "suspect", "dead" or "left".
	State string `json:"state"`
}

// GroupStatus is one Raft group: its leader, servers and indexes.
type GroupStatus struct {
	Name         string      `json:"name"`
	LeaderID     string      `json:"leader_id"`
	LeaderAddr   string      `json:"leader_addr"`
	Peers        []GroupPeer `json:"peers"`
	CommitIndex  uint64      `json:"commit_index"`
	AppliedIndex uint64      `json:"applied_index"`
	LastIndex    uint64      `json:"last_index"`
	Term         uint64      `json:"term"`
}

// GroupPeer is one server of a group's configuration.
type GroupPeer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	// Suffrage is "voter" or "nonvoter".
	Suffrage string `json:"suffrage"`
	// Lag is how many entries the server is behind; -1 when unknown.
	Lag int64 `json:"lag"`
}

// ClusterStatus asks the connected node for its view of the cluster. It is
// retried on Unavailable (on another node after a failover) until ctx ends.
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var resp *warrenpb.ClusterStatusResponse
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.ClusterStatus(ctx, &warrenpb.ClusterStatusRequest{})
		return err
	})
	if err != nil {
		return ClusterStatus{}, err
	}
	out := ClusterStatus{NodeID: resp.GetNodeId()}
	for _, m := range resp.GetMembers() {
		out.Members = append(out.Members, ClusterMember{
			ID: m.GetId(), Zone: m.GetZone(), GRPCAddr: m.GetGrpcAddr(), RaftAddr: m.GetRaftAddr(), State: m.GetState(),
		})
	}
	for _, g := range resp.GetGroups() {
		gs := GroupStatus{
			Name: g.GetName(), LeaderID: g.GetLeaderId(), LeaderAddr: g.GetLeaderAddr(), CommitIndex: g.GetCommitIndex(),
			AppliedIndex: g.GetAppliedIndex(), LastIndex: g.GetLastIndex(), Term: g.GetTerm(),
		}
		for _, p := range g.GetPeers() {
			gs.Peers = append(gs.Peers, GroupPeer{ID: p.GetId(), RaftAddr: p.GetRaftAddr(), Suffrage: p.GetSuffrage(), Lag: p.GetLag()})
		}
		out.Groups = append(out.Groups, gs)
	}
	return out, nil
}
