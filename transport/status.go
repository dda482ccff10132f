package transport

import (
	"context"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// ClusterStatus implements BrokerService.
func (s *Server) ClusterStatus(ctx context.Context, r *pb.ClusterStatusRequest) (*pb.ClusterStatusResponse, error) {
	if err := s.limits.validateClusterStatus(r); err != nil {
		return nil, err
	}
	node := s.broker.Node()
	resp := &pb.ClusterStatusResponse{NodeId: node.NodeID(), Members: s.members()}
	for _, g := range node.GroupStatuses(ctx) {
		gs := &pb.GroupStatus{
			Name: g.Name, LeaderId: g.LeaderID, LeaderAddr: g.LeaderAddr, CommitIndex: g.CommitIndex,
			AppliedIndex: g.AppliedIndex, LastIndex: g.LastIndex, Term: g.Term,
		}
		for _, p := range g.Peers {
			gs.Peers = append(gs.Peers, &pb.GroupPeer{Id: p.ID, RaftAddr: p.RaftAddr, Suffrage: p.Suffrage, Lag: p.Lag,
				LastIndex: p.LastIndex, AppliedIndex: p.AppliedIndex})
		}
		resp.Groups = append(resp.Groups, gs)
	}
	return resp, nil
}

// members lists the cluster's members as this node's gossip sees them.
func (s *Server) members() []*pb.ClusterMember {
	var out []*pb.ClusterMember
	for _, m := range s.broker.Node().Members() {
		cm := &pb.ClusterMember{Id: m.ID, Zone: m.Zone, GrpcAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, State: m.State, Version: m.Version}
		if !m.Since.IsZero() {
			cm.SinceMs = m.Since.UnixMilli()
		}
		out = append(out, cm)
	}
	return out
}

// LeaveCluster implements BrokerService: this node leaves the cluster for
// good. The process stops once the reply is sent (see cmd/node).
func (s *Server) LeaveCluster(ctx context.Context, r *pb.LeaveClusterRequest) (*pb.LeaveClusterResponse, error) {
	if err := s.limits.validateLeaveCluster(r); err != nil {
		return nil, err
	}
	groups, err := s.broker.Node().Leave(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LeaveClusterResponse{Groups: groups}, nil
}

// RemoveNode implements BrokerService.
func (s *Server) RemoveNode(ctx context.Context, r *pb.RemoveNodeRequest) (*pb.RemoveNodeResponse, error) {
	if err := s.limits.validateRemoveNode(r); err != nil {
		return nil, err
	}
	groups, err := s.broker.Node().RemoveNode(ctx, r.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveNodeResponse{Groups: groups}, nil
}
