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
	// Version is the build the member runs ("v1.2.3",
	// "devel+4dac8f030d15.dirty"), as it gossips it; "" when unknown.
	Version string `json:"version,omitempty"`
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
			Version: m.GetVersion(),
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

// GossipKeyring is the cluster's gossip keyring as its running members
// reported it, after a keyring operation.
type GossipKeyring struct {
	// Keys lists every key a member holds: the most used primary first,
	// then by how many members hold it.
	Keys []GossipKey `json:"keys"`
	// Primary is the key every member encrypts gossip with, in base64
	// ("" when the members differ).
	Primary string `json:"primary"`
	// Members is how many running members answered.
	Members int `json:"members"`
}

// GossipKey is one gossip encryption key and how many members hold it.
type GossipKey struct {
	// Key is the key in standard base64, as in a --gossip-key-file.
	Key string `json:"key"`
	// Members is how many members hold the key; PrimaryMembers how many
	// of them encrypt with it.
	Members        int `json:"members"`
	PrimaryMembers int `json:"primary_members"`
}

// ListGossipKeys asks every running member of the cluster, through the
// connected node, for its gossip keys. FailedPrecondition when gossip is
// not encrypted.
//
// The keyring calls act on every running member and fail unless every one
// of them carried the operation out; the error names the members that did
// not. They are not retried (the error would come only once ctx ends), but
// every one is idempotent: run it again once those members are back, or
// gone from gossip. Keys are in standard base64 (16, 24 or 32 bytes).
func (c *Client) ListGossipKeys(ctx context.Context) (GossipKeyring, error) {
	return c.gossipKey(ctx, warrenpb.GossipKeyOp_GOSSIP_KEY_OP_LIST, "")
}

// InstallGossipKey adds key to the keyring of every running member: they
// then decrypt gossip with it as well. The first step of a key rotation
// (install, use, remove); see ListGossipKeys.
func (c *Client) InstallGossipKey(ctx context.Context, key string) (GossipKeyring, error) {
	return c.gossipKey(ctx, warrenpb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL, key)
}

// UseGossipKey makes key the primary key of every running member: they
// then encrypt gossip with it. Refused (FailedPrecondition), with nothing
// changed, unless every member has the key installed; see ListGossipKeys.
func (c *Client) UseGossipKey(ctx context.Context, key string) (GossipKeyring, error) {
	return c.gossipKey(ctx, warrenpb.GossipKeyOp_GOSSIP_KEY_OP_USE, key)
}

// RemoveGossipKey removes key from the keyring of every running member.
// Refused (FailedPrecondition), with nothing changed, while a member uses it
// as its primary key; see ListGossipKeys.
func (c *Client) RemoveGossipKey(ctx context.Context, key string) (GossipKeyring, error) {
	return c.gossipKey(ctx, warrenpb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE, key)
}

func (c *Client) gossipKey(ctx context.Context, op warrenpb.GossipKeyOp, key string) (GossipKeyring, error) {
	var resp *warrenpb.GossipKeyResponse
	err := c.call(ctx, retryUnsent, func(ctx context.Context, cn *conn) (err error) {
		resp, err = cn.api.GossipKey(ctx, &warrenpb.GossipKeyRequest{Op: op, Key: key})
		return err
	})
	if err != nil {
		return GossipKeyring{}, err
	}
	out := GossipKeyring{Primary: resp.GetPrimary(), Members: int(resp.GetMembers())}
	for _, k := range resp.GetKeys() {
		out.Keys = append(out.Keys, GossipKey{Key: k.GetKey(), Members: int(k.GetMembers()), PrimaryMembers: int(k.GetPrimaryMembers())})
	}
	return out, nil
}
