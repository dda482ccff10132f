package transport

import (
	"context"
	"sort"

	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// maxLiveSessionsQuery bounds the ids of one LiveSessions call (a leader
// asks in chunks of cluster.LiveSessionsChunk).
const maxLiveSessionsQuery = 4 * cluster.LiveSessionsChunk

// NodeServer implements the internal NodeService: the receiving end of
// calls a peer forwards to this node as a group's leader.
type NodeServer struct {
	pb.UnimplementedNodeServiceServer
	node *cluster.Node
	// guard refuses forwarded enqueues while this node, the queue group's
	// leader that would hold the messages, is short of memory or disk.
	guard ResourceGuard
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
	if err := admit(s.guard); err != nil {
		return nil, err
	}
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

// RemoveMember implements NodeService.
func (s *NodeServer) RemoveMember(ctx context.Context, r *pb.RemoveMemberRequest) (*pb.RemoveMemberResponse, error) {
	removed, err := s.node.RemoveFromGroup(ctx, r.GetGroup(), r.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveMemberResponse{Removed: removed}, nil
}

// LocalStatus implements NodeService.
func (s *NodeServer) LocalStatus(context.Context, *pb.LocalStatusRequest) (*pb.LocalStatusResponse, error) {
	resp := &pb.LocalStatusResponse{NodeId: s.node.NodeID()}
	idx := s.node.LocalIndexes()
	names := make([]string, 0, len(idx))
	for name := range idx {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g := idx[name]
		resp.Groups = append(resp.Groups, &pb.LocalGroupIndex{Group: name, LastIndex: g.LastIndex, AppliedIndex: g.AppliedIndex, CommitIndex: g.CommitIndex})
	}
	return resp, nil
}

// LiveSessions implements NodeService.
func (s *NodeServer) LiveSessions(_ context.Context, r *pb.LiveSessionsRequest) (*pb.LiveSessionsResponse, error) {
	if n := len(r.GetSessionIds()); n > maxLiveSessionsQuery {
		return nil, invalidf("%d session ids in one query, at most %d", n, maxLiveSessionsQuery)
	}
	return &pb.LiveSessionsResponse{Live: s.node.LiveSessions(r.GetSessionIds())}, nil
}
