package transport

import (
	"context"
	"encoding/base64"

	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// Gossip key rotation: the client's GossipKey runs the operation on every
// running member through the node it reached (cluster.GossipKeyring.Apply);
// each member applies it with NodeService.LocalGossipKey. Keys are never
// logged.

// GossipKey implements BrokerService. An administrator operation.
func (s *Server) GossipKey(ctx context.Context, r *pb.GossipKeyRequest) (*pb.GossipKeyResponse, error) {
	if err := s.limits.validateGossipKey(r); err != nil {
		return nil, err
	}
	key, _ := gossipKeyArgs(r.GetOp(), r.GetKey()) // validated
	report, err := s.broker.Node().GossipKeys().Apply(ctx, cluster.GossipKeyOp(r.GetOp()), key)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.GossipKeyResponse{Members: uint32(report.Members)}
	for _, k := range report.Keys {
		resp.Keys = append(resp.Keys, &pb.GossipKeyHolders{
			Key: base64.StdEncoding.EncodeToString(k.Key), Members: uint32(k.Members), PrimaryMembers: uint32(k.Primary),
		})
	}
	if p := report.Primary(); p != nil {
		resp.Primary = base64.StdEncoding.EncodeToString(p)
	}
	return resp, nil
}

// LocalGossipKey implements NodeService: the operation on this node only.
func (s *NodeServer) LocalGossipKey(_ context.Context, r *pb.LocalGossipKeyRequest) (*pb.LocalGossipKeyResponse, error) {
	if !knownGossipKeyOp(r.GetOp()) {
		return nil, invalidf("unknown gossip keyring operation %v", r.GetOp())
	}
	keys, err := s.broker.Node().GossipKeys().ApplyLocal(cluster.GossipKeyOp(r.GetOp()), r.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LocalGossipKeyResponse{NodeId: keys.NodeID, Keys: keys.Keys}, nil
}
