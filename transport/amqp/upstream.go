package amqp

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/metadata"
)

// upstream is where a consumer's deliveries come from: the broker's
// consumer when this node leads the queue's group, else a consume stream
// to the leader, proxied as the gRPC port proxies one (transport/forward.go):
// the leader sees this node's session, and when the connection goes the
// stream ends and the deliveries return.
type upstream interface {
	next(ctx context.Context) (broker.ConsumerEvent, error)
	sent(tag uint64)
	settle(kind broker.SettleKind, tag uint64, multiple bool) error
	// closeSend tells the upstream the client is done: a proxied stream
	// is half-closed, and the leader ends it once the consumer's acks and
	// its cancel committed (which ends next).
	closeSend()
	// close ends it; what it had delivered and not acked returns to the
	// queue, after the acks it was sent.
	close()
	// abort ends it at once, while another goroutine may still wait in
	// next.
	abort()
}

// closeWaitTimeout bounds how long a closing consumer waits for its acks
// and cancel to commit.
const closeWaitTimeout = 2 * time.Second

type localUpstream struct{ c *broker.Consumer }

func (l localUpstream) next(ctx context.Context) (broker.ConsumerEvent, error) {
	return l.c.NextEvent(ctx)
}
func (l localUpstream) sent(tag uint64) { l.c.Sent(tag) }
func (l localUpstream) settle(kind broker.SettleKind, tag uint64, multiple bool) error {
	return l.c.Settle(kind, tag, multiple)
}
func (l localUpstream) closeSend() {}
func (l localUpstream) abort()     { l.c.Close() }
func (l localUpstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), closeWaitTimeout)
	defer cancel()
	if l.c.CloseWait(ctx) != nil {
		l.c.Close()
	}
}

// vhostHeader is the metadata key of the virtual host of a call to a
// leader (transport's).
const vhostHeader = "warren-vhost"

func withVHost(ctx context.Context, vhost string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, vhostHeader, vhost)
}

// leaderClient is the public API of the leader of group, reached over the
// cluster port.
func (c *conn) leaderClient(group string) (pb.BrokerServiceClient, error) {
	cc, err := c.s.cfg.Broker.LeaderConn(group)
	if err != nil {
		return nil, err
	}
	return pb.NewBrokerServiceClient(cc), nil
}

type remoteUpstream struct {
	stream pb.BrokerService_ConsumeClient
	cancel context.CancelFunc
	mu     sync.Mutex // Send is not safe for concurrent use
}

// subscribeRemote opens a consume stream to the leader of group.
func (c *conn) subscribeRemote(ctx context.Context, group string, o broker.SubscribeOptions) (upstream, error) {
	client, err := c.leaderClient(group)
	if err != nil {
		return nil, err
	}
	// The stream lives with the connection, not with the consumer's
	// context: a cancelled consumer half-closes it (closeSend) so that
	// the leader commits its acks before the stream ends.
	sctx, cancel := context.WithCancel(withVHost(c.ctx, c.vhost))
	stop := context.AfterFunc(ctx, cancel) // the subscribe itself is bounded by ctx
	defer stop()
	stream, err := client.Consume(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	mode := pb.AckMode_ACK_MODE_MANUAL
	if o.AutoAck {
		mode = pb.AckMode_ACK_MODE_AUTO
	}
	sub := &pb.Subscribe{
		Queue: o.Queue, Prefetch: int32(min(o.Prefetch, 1<<31-1)), AckMode: mode, ConsumerTag: o.Tag, SessionId: o.Session,
		MinMetaIndex: c.s.cfg.Broker.MetaIndex(), Direct: true,
	}
	if o.Priority != 0 {
		sub.Arguments = map[string]*pb.Value{"x-priority": {Kind: &pb.Value_IntValue{IntValue: int64(o.Priority)}}}
	}
	if err := stream.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: sub}}); err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if first.GetSubscribed() == nil {
		cancel()
		return nil, errors.New("the queue's leader answered a subscribe without Subscribed")
	}
	return &remoteUpstream{stream: stream, cancel: cancel}, nil
}

func (r *remoteUpstream) next(ctx context.Context) (broker.ConsumerEvent, error) {
	for {
		m, err := r.stream.Recv()
		if err == io.EOF {
			return broker.ConsumerEvent{}, broker.ErrConsumerClosed
		}
		if err != nil {
			return broker.ConsumerEvent{}, err
		}
		switch x := m.GetResponse().(type) {
		case *pb.ConsumeResponse_Delivery:
			return broker.ConsumerEvent{Delivery: brokerDelivery(x.Delivery)}, nil
		case *pb.ConsumeResponse_State:
			return broker.ConsumerEvent{State: true, Active: x.State.GetActive()}, nil
		}
	}
}

func (r *remoteUpstream) sent(uint64) {}

func (r *remoteUpstream) settle(kind broker.SettleKind, tag uint64, multiple bool) error {
	st := &pb.Settle{DeliveryTag: tag, Multiple: multiple, Kind: pb.SettleKind_SETTLE_KIND_ACK}
	switch kind {
	case broker.Return:
		st.Kind, st.Requeue = pb.SettleKind_SETTLE_KIND_NACK, true
	case broker.Discard:
		st.Kind = pb.SettleKind_SETTLE_KIND_NACK
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stream.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: st}})
}

func (r *remoteUpstream) abort() { r.cancel() }

func (r *remoteUpstream) closeSend() {
	r.mu.Lock()
	_ = r.stream.CloseSend()
	r.mu.Unlock()
}

// close half-closes the stream and lets the leader end it (after the
// acks sent on it committed), bounded by closeWaitTimeout, then cancels
// it. The caller is the stream's only reader by then (the consumer's
// goroutine has ended, or is the caller).
func (r *remoteUpstream) close() {
	r.closeSend()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, err := r.stream.Recv(); err != nil {
				return
			}
		}
	}()
	select {
	case <-ended:
	case <-time.After(closeWaitTimeout):
	}
	r.cancel()
	<-ended
}
