package transport

import (
	"context"
	"sort"
	"time"

	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
)

// maxLiveSessionsQuery bounds the ids of one LiveSessions call (a leader
// asks in chunks of broker.LiveSessionsChunk).
const maxLiveSessionsQuery = 4 * broker.LiveSessionsChunk

// NodeServer implements the internal NodeService: the receiving end of
// calls a peer forwards to this node as a group's leader.
type NodeServer struct {
	pb.UnimplementedNodeServiceServer
	broker *broker.Broker
	// guard refuses forwarded enqueues while this node, the queue group's
	// leader that would hold the messages, is short of memory or disk.
	guard ResourceGuard
}

// NewNodeServer returns the internal service for b.
func NewNodeServer(b *broker.Broker) *NodeServer { return &NodeServer{broker: b} }

// Register adds the service to a gRPC server.
func (s *NodeServer) Register(gs *grpc.Server) { pb.RegisterNodeServiceServer(gs, s) }

// Propose implements NodeService.
func (s *NodeServer) Propose(ctx context.Context, r *pb.ProposeRequest) (*pb.ProposeResponse, error) {
	resp, err := s.broker.ServeProposal(ctx, r)
	return resp, toStatus(err)
}

// Enqueue implements NodeService.
func (s *NodeServer) Enqueue(ctx context.Context, r *pb.EnqueueRequest) (*pb.EnqueueResponse, error) {
	if err := admit(s.guard); err != nil {
		return nil, err
	}
	resp, err := s.broker.ServeEnqueue(ctx, r)
	return resp, toStatus(err)
}

// TransferLeadership implements NodeService.
func (s *NodeServer) TransferLeadership(_ context.Context, r *pb.TransferLeadershipRequest) (*pb.TransferLeadershipResponse, error) {
	if err := s.broker.Node().TransferLeadership(r.GetGroup(), r.GetTargetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.TransferLeadershipResponse{}, nil
}

// RemoveMember implements NodeService.
func (s *NodeServer) RemoveMember(ctx context.Context, r *pb.RemoveMemberRequest) (*pb.RemoveMemberResponse, error) {
	removed, err := s.broker.Node().RemoveFromGroup(ctx, r.GetGroup(), r.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveMemberResponse{Removed: removed}, nil
}

// LocalStatus implements NodeService.
func (s *NodeServer) LocalStatus(context.Context, *pb.LocalStatusRequest) (*pb.LocalStatusResponse, error) {
	node := s.broker.Node()
	resp := &pb.LocalStatusResponse{NodeId: node.NodeID()}
	idx := node.LocalIndexes()
	names := make([]string, 0, len(idx))
	for name := range idx {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g := idx[name]
		resp.Groups = append(resp.Groups, &pb.LocalGroupIndex{Group: name, LastIndex: g.LastIndex, AppliedIndex: g.AppliedIndex, CommitIndex: g.CommitIndex, LeaderCommitComplete: g.LeaderCommitComplete,
			LeaderId: g.LeaderID, LeaderSilentMs: uint64(g.LeaderSilent / time.Millisecond)})
	}
	return resp, nil
}

// QueueRates implements NodeService.
func (s *NodeServer) QueueRates(_ context.Context, r *pb.QueueRatesRequest) (*pb.QueueRatesResponse, error) {
	if n := len(r.GetQueueIds()); n > broker.MaxRatesQuery {
		return nil, invalidf("%d queue ids in one query, at most %d", n, broker.MaxRatesQuery)
	}
	resp := &pb.QueueRatesResponse{}
	for _, q := range s.broker.LocalQueueRates(r.GetGroup(), r.GetQueueIds()) {
		resp.Rates = append(resp.Rates, apiRates(q))
	}
	return resp, nil
}

// LiveSessions implements NodeService.
func (s *NodeServer) LiveSessions(_ context.Context, r *pb.LiveSessionsRequest) (*pb.LiveSessionsResponse, error) {
	if n := len(r.GetSessionIds()); n > maxLiveSessionsQuery {
		return nil, invalidf("%d session ids in one query, at most %d", n, maxLiveSessionsQuery)
	}
	return &pb.LiveSessionsResponse{Live: s.broker.LiveSessions(r.GetSessionIds())}, nil
}
