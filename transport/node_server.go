package transport

import (
	"context"

	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// NodeServer implements the internal NodeService: the receiving end of
// calls a peer forwards to this node as a group's leader.
type NodeServer struct {
	pb.UnimplementedNodeServiceServer
	node *cluster.Node
}

// NewNodeServer returns the internal service for node.
func NewNodeServer(node *cluster.Node) *NodeServer { return &NodeServer{node: node} }

// Register adds the service to a gRPC server.
func (s *NodeServer) Register(gs *grpc.Server) { pb.RegisterNodeServiceServer(gs, s) }

// Propose implements NodeService.
func (s *NodeServer) Propose(ctx context.Context, r *pb.ProposeRequest) (*pb.ProposeResponse, error) {
	res, index, err := s.node.ApplyForwarded(ctx, r.GetGroup(), r.GetCommand())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ProposeResponse{Index: index, QueueId: res.QueueID, QueueName: res.QueueName, Count: res.Count}
	for _, d := range res.DroppedQueues {
		resp.Dropped = append(resp.Dropped, &pb.DroppedQueue{Id: d.ID, Name: d.Name, Group: d.Group})
	}
	if res.Err != nil {
		st := status.Convert(toStatus(res.Err))
		resp.ErrorCode, resp.ErrorMessage = uint32(st.Code()), st.Message()
	}
	return resp, nil
}

// Enqueue implements NodeService.
func (s *NodeServer) Enqueue(ctx context.Context, r *pb.EnqueueRequest) (*pb.EnqueueResponse, error) {
	outcomes, err := s.node.EnqueueForwarded(ctx, r.GetGroup(), r.GetSpecs(), r.GetMessages())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.EnqueueResponse{Outcomes: make([]*pb.EnqueueOutcome, len(outcomes))}
	for i, o := range outcomes {
		resp.Outcomes[i] = &pb.EnqueueOutcome{Status: uint32(o.Status), Reason: o.Reason}
	}
	return resp, nil
}

// TransferLeadership implements NodeService.
func (s *NodeServer) TransferLeadership(_ context.Context, r *pb.TransferLeadershipRequest) (*pb.TransferLeadershipResponse, error) {
	if err := s.node.TransferGroupLeadership(r.GetGroup(), r.GetTargetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.TransferLeadershipResponse{}, nil
}
