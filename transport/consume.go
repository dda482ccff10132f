package transport

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
)

// sessionCleanupTimeout bounds the work done after a stream ends.
const sessionCleanupTimeout = 30 * time.Second

// closeWaitTimeout bounds how long a consume stream the client half-closed
// waits for its consumer's Cancel to commit before it ends anyway; under
// the SDK's CloseGracePeriod, after which the client stops waiting.
const closeWaitTimeout = 2 * time.Second

// Consume implements BrokerService: the first message subscribes, later
// ones settle deliveries; deliveries flow back within the prefetch credit.
// When the stream ends for any reason the consumer's unacked deliveries
// return to the queue, marked redelivered.
func (s *Server) Consume(stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := s.limits.validateSubscribe(first); err != nil {
		return err
	}
	sub := first.GetSubscribe()
	priority, _ := consumerPriority(sub) // validated above
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	vh, err := s.begin(ctx, sub.GetMinMetaIndex())
	if err != nil {
		return err
	}
	session := sub.GetSessionId()
	if session == "" {
		session = randomID("stream-")
	}
	tag := sub.GetConsumerTag()
	if tag == "" {
		tag = randomID("ctag-")
	}
	defer s.broker.TrackSessionStream(session, cancel)()
	if !s.consumers.open(session, s.limits.MaxConsumersPerSession) {
		return tooBigf("session %s has %d consume streams on this node; the limit is %d", session, s.limits.MaxConsumersPerSession, s.limits.MaxConsumersPerSession)
	}
	defer s.consumers.close(session)
	s.streams.consumes.Add(1)
	defer s.streams.consumes.Add(-1)
	c, err := s.broker.Subscribe(ctx, broker.SubscribeOptions{
		VHost: vh, Queue: sub.GetQueue(), Session: session, Tag: tag, Prefetch: uint32(sub.GetPrefetch()),
		AutoAck: sub.GetAckMode() == pb.AckMode_ACK_MODE_AUTO, Priority: priority,
		Timeout: time.Duration(sub.GetConsumerTimeoutMs()) * time.Millisecond,
	})
	if group, elsewhere := broker.LeaderElsewhere(err); elsewhere {
		if sub.GetDirect() {
			if to := s.broker.Redirect(err); to != nil {
				return toStatus(to)
			}
		}
		sub.SessionId, sub.ConsumerTag = session, tag
		sub.MinMetaIndex = max(sub.GetMinMetaIndex(), s.broker.MetaIndex())
		return s.proxyConsume(ctx, stream, vh, first, group)
	}
	if err != nil {
		return toStatus(err)
	}
	defer c.Close()
	heartbeat := time.Duration(sub.GetHeartbeatMs()) * time.Millisecond
	if err := stream.Send(&pb.ConsumeResponse{Response: &pb.ConsumeResponse_Subscribed{
		Subscribed: &pb.Subscribed{ConsumerTag: tag, Queue: sub.GetQueue(), Active: c.Active(), HeartbeatMs: sub.GetHeartbeatMs(), Group: c.Group(), Batch: sub.GetBatch()},
	}}); err != nil {
		return err
	}
	recvErr := make(chan error, 1)
	go func() {
		recvErr <- s.recvSettles(stream, c)
		cancel(nil)
	}()
	for {
		e, err := nextOrHeartbeat(ctx, c, heartbeat)
		if errors.Is(err, errHeartbeatDue) {
			if err := stream.Send(&pb.ConsumeResponse{Response: &pb.ConsumeResponse_Heartbeat{Heartbeat: &pb.Heartbeat{}}}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			select {
			case rerr := <-recvErr:
				if rerr == nil {
					// The client half-closed: it is done. End the stream
					// only once the consumer's acks and its Cancel have
					// committed, so that the client has seen them
					// confirmed and a listing it makes next (through any
					// node) shows the consumer gone.
					cctx, ccancel := context.WithTimeout(context.WithoutCancel(stream.Context()), closeWaitTimeout)
					_ = c.CloseWait(cctx) // not committed: the consumer goes later, as when a stream breaks
					ccancel()
				}
				return rerr
			default:
			}
			if errors.Is(err, context.Canceled) {
				if cause := context.Cause(ctx); errors.Is(cause, broker.ErrSessionClosed) {
					return toStatus(cause)
				}
				return toStatus(stream.Context().Err())
			}
			return toStatus(err)
		}
		if e.State {
			if sub.GetStateUpdates() {
				if err := stream.Send(&pb.ConsumeResponse{Response: &pb.ConsumeResponse_State{State: &pb.ConsumerState{Active: e.Active}}}); err != nil {
					return err
				}
			}
			continue
		}
		if sub.GetBatch() {
			if err := sendReady(stream, c, e.Delivery); err != nil {
				return err
			}
			continue
		}
		d := e.Delivery
		if err := stream.Send(&pb.ConsumeResponse{Response: &pb.ConsumeResponse_Delivery{Delivery: apiDelivery(d)}}); err != nil {
			return err
		}
		c.Sent(d.Tag)
	}
}

// What one Deliveries message carries at most: deliveries, and bytes of
// bodies (a delivery larger than that goes alone). They bound how long the
// first delivery of a batch waits for the bodies of the others to be read,
// and keep a batch far below a client's smallest receive limit (gRPC's
// default is 4 MiB).
const (
	maxBatchDeliveries = 64
	maxBatchBodyBytes  = 128 << 10
)

// sendReady sends first and every delivery ready behind it, as Deliveries
// messages (Delivery for one alone): a consumer whose credit a commit
// freed gets what that commit assigned in one message, not one message
// each, which is most of what a delivery costs both ends at full load.
func sendReady(stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse], c *broker.Consumer, first broker.Delivery) error {
	ds, err := c.TakeReady(maxBatchDeliveries-1, maxBatchBodyBytes-len(first.Message.Body))
	ds = append([]broker.Delivery{first}, ds...)
	for len(ds) > 0 {
		if err != nil {
			return toStatus(err) // what was taken and not sent returns with the Cancel
		}
		batch := make([]*pb.Delivery, len(ds))
		tags := make([]uint64, len(ds))
		for i, d := range ds {
			batch[i], tags[i] = apiDelivery(d), d.Tag
		}
		m := &pb.ConsumeResponse{Response: &pb.ConsumeResponse_Deliveries{Deliveries: &pb.Deliveries{Deliveries: batch}}}
		if len(batch) == 1 {
			m = &pb.ConsumeResponse{Response: &pb.ConsumeResponse_Delivery{Delivery: batch[0]}}
		}
		if err := stream.Send(m); err != nil {
			return err
		}
		c.Sent(tags...)
		ds, err = c.TakeReady(maxBatchDeliveries, maxBatchBodyBytes)
	}
	return nil
}

// errHeartbeatDue says that a consume stream has sent nothing for its
// heartbeat interval.
var errHeartbeatDue = errors.New("heartbeat due")

// nextOrHeartbeat waits for c's next event (a delivery or a state
// change), or, when heartbeat is set, at most heartbeat, then returns
// errHeartbeatDue. A wait cut short this way takes nothing from the
// consumer (NextEvent only hands over what it returns).
func nextOrHeartbeat(ctx context.Context, c *broker.Consumer, heartbeat time.Duration) (broker.ConsumerEvent, error) {
	if heartbeat <= 0 {
		return c.NextEvent(ctx)
	}
	hctx, cancel := context.WithTimeoutCause(ctx, heartbeat, errHeartbeatDue)
	defer cancel()
	e, err := c.NextEvent(hctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(hctx), errHeartbeatDue) {
		return e, errHeartbeatDue
	}
	return e, err
}

// recvSettles reads acks, nacks and rejects until the client ends its side
// or sends something invalid; the returned error ends the stream (a client
// that half-closes simply ends consuming).
func (s *Server) recvSettles(stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse], c *broker.Consumer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.limits.validateConsumeSettle(req); err != nil {
			return err
		}
		if ss := req.GetSettles(); ss != nil {
			for _, st := range ss.GetSettles() {
				if err := settle(c, st); err != nil {
					return err
				}
			}
			continue
		}
		if err := settle(c, req.GetSettle()); err != nil {
			return err
		}
	}
}

// settle applies one validated settle of a consume stream.
func settle(c *broker.Consumer, st *pb.Settle) error {
	kind, err := settleKind(st)
	if err != nil {
		return err
	}
	if err := c.Settle(kind, st.GetDeliveryTag(), st.GetMultiple()); err != nil {
		return toStatus(err)
	}
	return nil
}

func settleKind(st *pb.Settle) (broker.SettleKind, error) {
	switch st.GetKind() {
	case pb.SettleKind_SETTLE_KIND_ACK:
		return broker.Ack, nil
	case pb.SettleKind_SETTLE_KIND_NACK, pb.SettleKind_SETTLE_KIND_REJECT:
		if st.GetKind() == pb.SettleKind_SETTLE_KIND_REJECT && st.GetMultiple() {
			return 0, invalidf("reject settles one delivery; use nack for multiple")
		}
		if st.GetRequeue() {
			return broker.Return, nil
		}
		return broker.Discard, nil
	}
	return 0, invalidf("settle kind must be ACK, NACK or REJECT")
}

// Get implements BrokerService.
func (s *Server) Get(ctx context.Context, r *pb.GetRequest) (*pb.GetResponse, error) {
	if err := s.limits.validateGet(r); err != nil {
		return nil, err
	}
	vh, err := s.begin(ctx, r.GetMinMetaIndex())
	if err != nil {
		return nil, err
	}
	session := r.GetSessionId()
	if session == "" {
		// Only an auto-ack get may come without a session (checked above);
		// it leaves nothing behind, but the state machine wants a name.
		session = randomID("get-")
	}
	d, left, err := s.broker.Get(ctx, broker.GetOptions{
		VHost: vh, Queue: r.GetQueue(), Session: session, AutoAck: r.GetAutoAck(), Lease: time.Duration(r.GetLeaseMs()) * time.Millisecond,
	})
	if group, elsewhere := broker.LeaderElsewhere(err); elsewhere {
		up, cerr := s.leaderBroker(group)
		if cerr != nil {
			return nil, cerr
		}
		r.SessionId = session
		r.MinMetaIndex = max(r.GetMinMetaIndex(), s.broker.MetaIndex())
		return up.Get(withVHost(ctx, vh), r)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.GetResponse{MessageCount: left}
	if d != nil {
		resp.Delivery = apiDelivery(*d)
	}
	return resp, nil
}

// Settle implements BrokerService for deliveries taken with Get.
func (s *Server) Settle(ctx context.Context, r *pb.SettleRequest) (*pb.SettleResponse, error) {
	if err := s.limits.validateSettle(r); err != nil {
		return nil, err
	}
	kind, err := settleKind(r.GetSettle())
	if err != nil {
		return nil, err
	}
	vh, err := s.callVHost(ctx)
	if err != nil {
		return nil, err
	}
	err = s.broker.SettleGet(ctx, broker.SettleGetOptions{
		VHost: vh, Queue: r.GetQueue(), Session: r.GetSessionId(), Kind: kind, Tag: r.GetSettle().GetDeliveryTag(), Multiple: r.GetSettle().GetMultiple(),
	})
	if group, elsewhere := broker.LeaderElsewhere(err); elsewhere {
		up, cerr := s.leaderBroker(group)
		if cerr != nil {
			return nil, cerr
		}
		return up.Settle(withVHost(ctx, vh), r)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SettleResponse{}, nil
}

// Session implements BrokerService: the session lives while this stream
// is open; when it ends, its gets return and its exclusive queues go.
func (s *Server) Session(stream grpc.BidiStreamingServer[pb.SessionRequest, pb.SessionResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := s.limits.validateSession(first); err != nil {
		return err
	}
	id := first.GetSessionId()
	s.broker.SessionOpened(id)
	s.streams.sessions.Add(1)
	defer s.streams.sessions.Add(-1)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), sessionCleanupTimeout)
		defer cancel()
		s.broker.SessionClosed(ctx, id)
	}()
	if err := stream.Send(&pb.SessionResponse{SessionId: id, HeartbeatMs: first.GetHeartbeatMs()}); err != nil {
		return err
	}
	closed, closeSession := context.WithCancelCause(stream.Context())
	defer closeSession(nil)
	defer s.broker.TrackSessionStream(id, closeSession)()
	recvErr := make(chan error, 1)
	go func() {
		// Ends when the client goes or the handler returns (which cancels
		// the stream).
		for {
			if _, err := stream.Recv(); err != nil {
				recvErr <- err
				return
			}
		}
	}()
	heartbeat := time.Duration(first.GetHeartbeatMs()) * time.Millisecond
	if first.GetLeaderNotices() || heartbeat > 0 {
		// sessionSends makes every send after the first; the handler
		// waits for it to stop before it returns.
		ctx, cancel := context.WithCancel(stream.Context())
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			s.sessionSends(ctx, stream, first.GetLeaderNotices(), heartbeat)
		}()
		defer func() { cancel(); <-sent }()
	}
	select {
	case err := <-recvErr:
		if err == io.EOF {
			return nil
		}
		return err
	case <-s.draining:
		return toStatus(cluster.ErrShuttingDown)
	case <-closed.Done():
		return toStatus(context.Cause(closed))
	}
}

// sessionSends sends on a session stream, until ctx ends or a send fails:
// with notices, a LeaderMoved for each queue group whose leader, as this
// node knows it, differs from the one it knew when the session opened or
// last told of (a moment without a leader is not told: the client could go
// nowhere); with a heartbeat, an empty response whenever it has sent
// nothing for that long.
func (s *Server) sessionSends(ctx context.Context, stream grpc.BidiStreamingServer[pb.SessionRequest, pb.SessionResponse], notices bool, heartbeat time.Duration) {
	var beat <-chan time.Time
	var timer *time.Timer
	if heartbeat > 0 {
		timer = time.NewTimer(heartbeat)
		defer timer.Stop()
		beat = timer.C
	}
	sent := func(r *pb.SessionResponse) bool {
		if err := stream.Send(r); err != nil {
			return false
		}
		if timer != nil {
			timer.Reset(heartbeat)
		}
		return true
	}
	told := map[string]string{} // group → leader id last known or told
	var changed <-chan struct{}
	// The leaders are read at the start and after each change, not at
	// every heartbeat.
	look := notices
	for first := true; ; first = false {
		if look {
			look = false
			changed = s.broker.LeadersChanged()
			for _, l := range s.broker.QueueGroupLeaders() {
				if l.LeaderID == "" || told[l.Group] == l.LeaderID {
					continue
				}
				told[l.Group] = l.LeaderID
				if first || l.GRPCAddr == "" {
					continue
				}
				if !sent(&pb.SessionResponse{LeaderMoved: &pb.LeaderMoved{Group: l.Group, LeaderId: l.LeaderID, LeaderGrpcAddr: l.GRPCAddr}}) {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
			look = true
		case <-beat:
			if !sent(&pb.SessionResponse{}) {
				return
			}
		}
	}
}
