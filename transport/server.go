package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Server implements the public BrokerService on top of a node. Safe for
// concurrent use by gRPC.
type Server struct {
	pb.UnimplementedBrokerServiceServer
	node   *cluster.Node
	limits Limits
	logger hclog.Logger
	// guard refuses publishes while the node is short of memory or disk
	// (SetResourceGuard); nil accepts them.
	guard ResourceGuard

	draining  chan struct{}
	drainOnce sync.Once
}

// NewServer returns the service for node with the given limits.
func NewServer(node *cluster.Node, limits Limits, logger hclog.Logger) *Server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Server{node: node, limits: limits, logger: logger, draining: make(chan struct{})}
}

// Drain ends every stream (consume and session) with UNAVAILABLE and makes
// new ones fail, so that a graceful stop of the gRPC server finishes: the
// streams would otherwise stay open until their clients leave. Unary calls
// keep working. Idempotent.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		close(s.draining)
		s.node.Drain()
	})
}

// Keepalive settings: a client that stops answering pings is dropped
// within about keepaliveTime+keepaliveTimeout, which ends its streams and
// so returns its unacked deliveries.
const (
	keepaliveTime    = 5 * time.Second
	keepaliveTimeout = 5 * time.Second
	// minClientPing is the most often a client may ping.
	minClientPing = 2 * time.Second
)

// GRPCOptions returns the server options Warren needs: message size limits
// and keepalive enforcement so dead clients are noticed within seconds.
func GRPCOptions(l Limits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRequestBytes),
		grpc.MaxSendMsgSize(l.MaxRequestBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: minClientPing, PermitWithoutStream: true}),
	}
}

// Register adds the service to a gRPC server.
func (s *Server) Register(gs *grpc.Server) { pb.RegisterBrokerServiceServer(gs, s) }

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) waitMeta(ctx context.Context, idx uint64) error {
	return toStatus(s.node.WaitMetaIndex(ctx, idx))
}

// DeclareExchange implements BrokerService.
func (s *Server) DeclareExchange(ctx context.Context, r *pb.DeclareExchangeRequest) (*pb.DeclareExchangeResponse, error) {
	if err := s.limits.validateDeclareExchange(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	if r.GetPassive() {
		if _, err := s.node.Exchange(r.GetName()); err != nil {
			return nil, toStatus(err)
		}
		return &pb.DeclareExchangeResponse{}, nil
	}
	idx, err := s.node.DeclareExchange(ctx, &fsmpb.DeclareExchange{
		Name: r.GetName(), Kind: r.GetKind(), AutoDelete: r.GetAutoDelete(), Internal: r.GetInternal(), Arguments: toFSMValues(r.GetArguments()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeclareExchangeResponse{MetaIndex: idx}, nil
}

// DeleteExchange implements BrokerService.
func (s *Server) DeleteExchange(ctx context.Context, r *pb.DeleteExchangeRequest) (*pb.DeleteExchangeResponse, error) {
	if err := s.limits.validateDeleteExchange(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	idx, err := s.node.DeleteExchange(ctx, &fsmpb.DeleteExchange{Name: r.GetName(), IfUnused: r.GetIfUnused()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteExchangeResponse{MetaIndex: idx}, nil
}

// ListExchanges implements BrokerService.
func (s *Server) ListExchanges(ctx context.Context, r *pb.ListExchangesRequest) (*pb.ListExchangesResponse, error) {
	if err := s.limits.validateListExchanges(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	resp := &pb.ListExchangesResponse{}
	for _, e := range s.node.Exchanges() {
		resp.Exchanges = append(resp.Exchanges, &pb.Exchange{
			Name: e.Name, Kind: e.Kind.String(), AutoDelete: e.AutoDelete, Internal: e.Internal,
			Arguments: fromFSMValues(e.Args), Builtin: e.Builtin,
		})
	}
	return resp, nil
}

// DeclareQueue implements BrokerService.
func (s *Server) DeclareQueue(ctx context.Context, r *pb.DeclareQueueRequest) (*pb.DeclareQueueResponse, error) {
	if err := s.limits.validateDeclareQueue(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	if r.GetPassive() {
		info, err := s.node.QueueInfo(r.GetName())
		if err != nil {
			return nil, toStatus(err)
		}
		return &pb.DeclareQueueResponse{Name: info.Def.Name, MessageCount: info.Ready, ConsumerCount: info.Consumers}, nil
	}
	name := r.GetName()
	if name == "" {
		name = randomID(fsm.GeneratedQueuePrefix)
	}
	args := toFSMValues(r.GetArguments())
	info, idx, err := s.node.DeclareQueue(ctx, &fsmpb.DeclareQueue{
		Name: name, Exclusive: r.GetExclusive(), AutoDelete: r.GetAutoDelete(), Arguments: args, OwnerSession: r.GetSessionId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeclareQueueResponse{Name: info.Def.Name, MessageCount: info.Ready, ConsumerCount: info.Consumers, MetaIndex: idx}, nil
}

// DeleteQueue implements BrokerService.
func (s *Server) DeleteQueue(ctx context.Context, r *pb.DeleteQueueRequest) (*pb.DeleteQueueResponse, error) {
	if err := s.limits.validateDeleteQueue(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	n, idx, err := s.node.DeleteQueue(ctx, r.GetName(), cluster.DeleteQueueOptions{IfUnused: r.GetIfUnused(), IfEmpty: r.GetIfEmpty()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteQueueResponse{MessageCount: n, MetaIndex: idx}, nil
}

// PurgeQueue implements BrokerService.
func (s *Server) PurgeQueue(ctx context.Context, r *pb.PurgeQueueRequest) (*pb.PurgeQueueResponse, error) {
	if err := s.limits.validatePurgeQueue(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	n, err := s.node.PurgeQueue(ctx, r.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PurgeQueueResponse{MessageCount: n}, nil
}

// ListQueues implements BrokerService.
func (s *Server) ListQueues(ctx context.Context, r *pb.ListQueuesRequest) (*pb.ListQueuesResponse, error) {
	if err := s.limits.validateListQueues(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	resp := &pb.ListQueuesResponse{}
	for _, q := range s.node.Queues() {
		resp.Queues = append(resp.Queues, &pb.QueueInfo{
			Name: q.Def.Name, Exclusive: q.Def.Exclusive, AutoDelete: q.Def.AutoDelete, Arguments: fromFSMValues(q.Def.Args),
			Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers, Group: q.Def.Group, ReadyBytes: q.ReadyBytes,
		})
	}
	return resp, nil
}

// BindQueue implements BrokerService.
func (s *Server) BindQueue(ctx context.Context, r *pb.BindQueueRequest) (*pb.BindQueueResponse, error) {
	if err := s.limits.validateBindQueue(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	idx, err := s.node.Bind(ctx, &fsmpb.Bind{Exchange: r.GetExchange(), Queue: r.GetQueue(), Key: r.GetBindingKey(), Arguments: toFSMValues(r.GetArguments())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.BindQueueResponse{MetaIndex: idx}, nil
}

// UnbindQueue implements BrokerService.
func (s *Server) UnbindQueue(ctx context.Context, r *pb.UnbindQueueRequest) (*pb.UnbindQueueResponse, error) {
	if err := s.limits.validateUnbindQueue(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	idx, err := s.node.Unbind(ctx, &fsmpb.Unbind{Exchange: r.GetExchange(), Queue: r.GetQueue(), Key: r.GetBindingKey(), Arguments: toFSMValues(r.GetArguments())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnbindQueueResponse{MetaIndex: idx}, nil
}

// ListBindings implements BrokerService.
func (s *Server) ListBindings(ctx context.Context, r *pb.ListBindingsRequest) (*pb.ListBindingsResponse, error) {
	if err := s.limits.validateListBindings(r); err != nil {
		return nil, err
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	resp := &pb.ListBindingsResponse{}
	for _, b := range s.node.Bindings(r.GetExchange(), r.GetQueue()) {
		resp.Bindings = append(resp.Bindings, &pb.Binding{Exchange: b.Exchange, Queue: b.Queue, BindingKey: b.Key, Arguments: fromFSMValues(b.Args)})
	}
	return resp, nil
}

// Publish implements BrokerService.
func (s *Server) Publish(ctx context.Context, r *pb.PublishRequest) (*pb.PublishResponse, error) {
	if err := s.limits.validatePublish(r); err != nil {
		return nil, err
	}
	if err := admit(s.guard); err != nil {
		return nil, err
	}
	entries := r.GetEntries()
	items := make([]cluster.PublishItem, len(entries))
	for i, e := range entries {
		p := toPayload(e)
		items[i] = cluster.PublishItem{
			Exchange: e.GetExchange(), RoutingKey: e.GetRoutingKey(), Headers: fsm.RoutingArgs(p.Headers), Payload: p,
			Mandatory: e.GetMandatory(), ProducerID: r.GetPublisherId(), Sequence: e.GetSequence(),
		}
	}
	if err := s.waitMeta(ctx, r.GetMinMetaIndex()); err != nil {
		return nil, err
	}
	outcomes, err := s.node.Publish(ctx, items)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.PublishResponse{Results: make([]*pb.PublishResult, len(outcomes))}
	for i, o := range outcomes {
		res := &pb.PublishResult{Reason: o.Reason}
		switch o.Status {
		case cluster.PublishConfirmed:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_CONFIRMED
		case cluster.PublishUnroutable:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_UNROUTABLE
		case cluster.PublishRejected:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_REJECTED
		}
		resp.Results[i] = res
	}
	return resp, nil
}
