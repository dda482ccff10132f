package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Server implements the public BrokerService on top of a node. Safe for
// concurrent use by gRPC.
type Server struct {
	pb.UnimplementedBrokerServiceServer
	broker *broker.Broker
	limits Limits
	logger hclog.Logger
	// guard refuses publishes while the node is short of memory or disk
	// (SetResourceGuard); nil accepts them.
	guard ResourceGuard

	draining  chan struct{}
	drainOnce sync.Once
	// consumers counts each session's consume streams here.
	consumers sessionStreams
	// access authenticates and authorizes calls; nil lets every call
	// through (SetAccess).
	access *Access
	// observer hears of finished calls (SetObserver); nil: none.
	observer atomic.Pointer[observerRef]
	streams  streamCounts
}

// NewServer returns the service for b with the given limits.
func NewServer(b *broker.Broker, limits Limits, logger hclog.Logger) *Server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Server{broker: b, limits: limits, logger: logger, draining: make(chan struct{})}
}

// Drain ends every stream (consume and session) with UNAVAILABLE and makes
// new ones fail, so that a graceful stop of the gRPC server finishes: the
// streams would otherwise stay open until their clients leave. Unary calls
// keep working. Idempotent.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		close(s.draining)
		s.broker.Drain()
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

// randomID names what the client left unnamed (sessions, consumer tags).
func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// begin starts a call: it waits until this node has applied the meta index
// the client has seen, and returns the call's virtual host.
func (s *Server) begin(ctx context.Context, idx uint64) (string, error) {
	vhost, err := s.callVHost(ctx)
	if err != nil {
		return "", err
	}
	return vhost, toStatus(s.broker.WaitMetaIndex(ctx, idx))
}

// DeclareExchange implements BrokerService.
func (s *Server) DeclareExchange(ctx context.Context, r *pb.DeclareExchangeRequest) (*pb.DeclareExchangeResponse, error) {
	if err := s.limits.validateDeclareExchange(r); err != nil {
		return nil, err
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	if r.GetPassive() {
		if _, err := s.broker.Exchange(vh, r.GetName()); err != nil {
			return nil, toStatus(err)
		}
		return &pb.DeclareExchangeResponse{}, nil
	}
	idx, err := s.broker.DeclareExchange(ctx, broker.ExchangeSpec{
		VHost: vh, Name: r.GetName(), Kind: r.GetKind(), AutoDelete: r.GetAutoDelete(), Internal: r.GetInternal(), Args: brokerValues(r.GetArguments()),
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
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	idx, err := s.broker.DeleteExchange(ctx, vh, r.GetName(), r.GetIfUnused())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteExchangeResponse{MetaIndex: idx}, nil
}

// DeclareQueue implements BrokerService.
func (s *Server) DeclareQueue(ctx context.Context, r *pb.DeclareQueueRequest) (*pb.DeclareQueueResponse, error) {
	if err := s.limits.validateDeclareQueue(r); err != nil {
		return nil, err
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	if r.GetPassive() {
		q, err := s.broker.Queue(vh, r.GetName())
		if err != nil {
			return nil, toStatus(err)
		}
		return &pb.DeclareQueueResponse{Name: q.Name, MessageCount: q.Ready, ConsumerCount: q.Consumers}, nil
	}
	q, idx, err := s.broker.DeclareQueue(ctx, broker.QueueSpec{
		VHost: vh, Name: r.GetName(), Exclusive: r.GetExclusive(), AutoDelete: r.GetAutoDelete(), Args: brokerValues(r.GetArguments()), OwnerSession: r.GetSessionId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeclareQueueResponse{Name: q.Name, MessageCount: q.Ready, ConsumerCount: q.Consumers, MetaIndex: idx, Notice: broker.QueueNotice(brokerValues(r.GetArguments()))}, nil
}

// DeleteQueue implements BrokerService.
func (s *Server) DeleteQueue(ctx context.Context, r *pb.DeleteQueueRequest) (*pb.DeleteQueueResponse, error) {
	if err := s.limits.validateDeleteQueue(r); err != nil {
		return nil, err
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	n, idx, err := s.broker.DeleteQueue(ctx, r.GetName(), broker.DeleteQueueOptions{VHost: vh, IfUnused: r.GetIfUnused(), IfEmpty: r.GetIfEmpty(), Session: r.GetSessionId()})
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
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	n, err := s.broker.PurgeQueue(ctx, vh, r.GetName(), r.GetSessionId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PurgeQueueResponse{MessageCount: n}, nil
}

// BindQueue implements BrokerService.
func (s *Server) BindQueue(ctx context.Context, r *pb.BindQueueRequest) (*pb.BindQueueResponse, error) {
	if err := s.limits.validateBindQueue(r); err != nil {
		return nil, err
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	idx, err := s.broker.Bind(ctx, broker.Binding{
		VHost: vh, Exchange: r.GetExchange(), Queue: r.GetQueue(), ToExchange: toExchange(r.GetDestinationKind()), Key: r.GetBindingKey(), Args: brokerValues(r.GetArguments()),
	})
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
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	idx, err := s.broker.Unbind(ctx, broker.Binding{
		VHost: vh, Exchange: r.GetExchange(), Queue: r.GetQueue(), ToExchange: toExchange(r.GetDestinationKind()), Key: r.GetBindingKey(), Args: brokerValues(r.GetArguments()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnbindQueueResponse{MetaIndex: idx}, nil
}

// Publish implements BrokerService.
func (s *Server) Publish(ctx context.Context, r *pb.PublishRequest) (*pb.PublishResponse, error) {
	start := time.Now()
	if err := s.limits.validatePublish(r); err != nil {
		return nil, err
	}
	if err := admit(s.guard); err != nil {
		return nil, err
	}
	entries := make([]broker.PublishEntry, len(r.GetEntries()))
	for i, e := range r.GetEntries() {
		entries[i] = broker.PublishEntry{
			Exchange: e.GetExchange(), RoutingKey: e.GetRoutingKey(), Message: brokerMessage(e.GetMessage()),
			Mandatory: e.GetMandatory(), Sequence: e.GetSequence(),
		}
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	outcomes, leader, err := s.broker.PublishHinted(ctx, vh, r.GetPublisherId(), entries)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.PublishResponse{Results: make([]*pb.PublishResult, len(outcomes)), LeaderGrpcAddr: leader}
	for i, o := range outcomes {
		res := &pb.PublishResult{Reason: o.Reason}
		switch o.Status {
		case broker.PublishConfirmed:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_CONFIRMED
		case broker.PublishUnroutable:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_UNROUTABLE
		case broker.PublishRejected:
			res.Status = pb.PublishStatus_PUBLISH_STATUS_REJECTED
		}
		resp.Results[i] = res
	}
	if o := s.observerOf(); o != nil {
		o.PublishAnswered(time.Since(start), len(outcomes))
	}
	return resp, nil
}

// toExchange reports whether a request's destination kind is an exchange
// (UNSPECIFIED is a queue, as before the field).
func toExchange(k pb.DestinationKind) bool { return k == pb.DestinationKind_DESTINATION_KIND_EXCHANGE }
