package client

import (
	"context"
	"time"

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
	// State is "alive", "leaving", "suspect", "dead" or "left".
	State string `json:"state"`
	// Since is when the answering node saw the member enter State (zero:
	// before that node started).
	Since time.Time `json:"since,omitzero"`
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
	// Lag is how many entries the server's log is behind the leader's;
	// -1 when the server or the leader did not answer.
	Lag int64 `json:"lag"`
	// LastIndex and AppliedIndex are the server's own (0: unknown).
	LastIndex    uint64 `json:"last_index"`
	AppliedIndex uint64 `json:"applied_index"`
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
		cm := ClusterMember{
			ID: m.GetId(), Zone: m.GetZone(), GRPCAddr: m.GetGrpcAddr(), RaftAddr: m.GetRaftAddr(), State: m.GetState(),
		}
		if ms := m.GetSinceMs(); ms > 0 {
			cm.Since = time.UnixMilli(ms).UTC()
		}
		out.Members = append(out.Members, cm)
	}
	for _, g := range resp.GetGroups() {
		gs := GroupStatus{
			Name: g.GetName(), LeaderID: g.GetLeaderId(), LeaderAddr: g.GetLeaderAddr(), CommitIndex: g.GetCommitIndex(),
			AppliedIndex: g.GetAppliedIndex(), LastIndex: g.GetLastIndex(), Term: g.GetTerm(),
		}
		for _, p := range g.GetPeers() {
			gs.Peers = append(gs.Peers, GroupPeer{ID: p.GetId(), RaftAddr: p.GetRaftAddr(), Suffrage: p.GetSuffrage(), Lag: p.GetLag(),
				LastIndex: p.GetLastIndex(), AppliedIndex: p.GetAppliedIndex()})
		}
		out.Groups = append(out.Groups, gs)
	}
	return out, nil
}

// LeaveCluster asks the node this client is connected to (Addr) to leave
// the cluster for good: it hands its leaderships off, is removed from
// every Raft group and stops. Give the client only that node's address.
// It returns the groups the node was removed from. Refused with
// FailedPrecondition when a group would lose its quorum of alive voters.
// Not retried on another node.
func (c *Client) LeaveCluster(ctx context.Context) ([]string, error) {
	var resp *warrenpb.LeaveClusterResponse
	err := c.call(ctx, retryUnsent, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.LeaveCluster(ctx, &warrenpb.LeaveClusterRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetGroups(), nil
}

// RemoveNode removes a node that is not alive (crashed, or stopped for
// good) from every Raft group, so the cluster no longer counts it in its
// quorums. It returns the groups it was removed from (none when it was
// already removed). Refused with FailedPrecondition for an alive node and
// when a group would lose its quorum of alive voters.
func (c *Client) RemoveNode(ctx context.Context, nodeID string) ([]string, error) {
	var resp *warrenpb.RemoveNodeResponse
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.RemoveNode(ctx, &warrenpb.RemoveNodeRequest{NodeId: nodeID})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.GetGroups(), nil
}
