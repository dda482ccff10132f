package transport

import (
	"context"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// ClusterStatus implements BrokerService.
func (s *Server) ClusterStatus(_ context.Context, _ *pb.ClusterStatusRequest) (*pb.ClusterStatusResponse, error) {
	resp := &pb.ClusterStatusResponse{NodeId: s.node.NodeID(), Members: s.members()}
	for _, g := range s.node.GroupStatuses() {
		gs := &pb.GroupStatus{
			Name: g.Name, LeaderId: g.LeaderID, LeaderAddr: g.LeaderAddr, CommitIndex: g.CommitIndex,
			AppliedIndex: g.AppliedIndex, LastIndex: g.LastIndex, Term: g.Term,
		}
		for _, p := range g.Peers {
			gs.Peers = append(gs.Peers, &pb.GroupPeer{Id: p.ID, RaftAddr: p.RaftAddr, Suffrage: p.Suffrage, Lag: p.Lag})
		}
		resp.Groups = append(resp.Groups, gs)
	}
	return resp, nil
}

// members lists the cluster's members as this node's gossip sees them.
func (s *Server) members() []*pb.ClusterMember {
	var out []*pb.ClusterMember
	for _, m := range s.node.Members() {
		out = append(out, &pb.ClusterMember{Id: m.ID, Zone: m.Zone, GrpcAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, State: m.State})
	}
	return out
}
