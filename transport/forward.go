package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
)

// Calls that must run on a queue group's leader (consume, get, settle of a
// get) are proxied there when this node is a follower, so a client may talk
// to any node. The leader sees the proxied stream as its consumer: when the
// client or this node goes, the stream ends and its deliveries return.

// leaderBroker returns the public API of the node that leads group.
func (s *Server) leaderBroker(group string) (pb.BrokerServiceClient, error) {
	conn, err := s.broker.LeaderConn(group)
	if err != nil {
		return nil, toStatus(err)
	}
	return pb.NewBrokerServiceClient(conn), nil
}

// proxyConsume relays a consume stream to the leader of group, first
// (the Subscribe, with session and consumer tag filled in) included. When
// this node learns of another leader of the group, it ends the stream with
// Unavailable: a client subscribes again at once and reaches the group
// where it now serves, instead of waiting out its heartbeat limit on a
// leader that went silent.
// ctx is the stream's, ended early when an operator closes the session.
func (s *Server) proxyConsume(ctx context.Context, stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse], vhost string, first *pb.ConsumeRequest, group string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, moved, err := s.broker.LeaderConnMoved(ctx, group)
	if err != nil {
		return toStatus(err)
	}
	up, err := pb.NewBrokerServiceClient(conn).Consume(withVHost(ctx, vhost))
	if err != nil {
		return err
	}
	if err := up.Send(first); err != nil {
		return err
	}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				_ = up.CloseSend()
				return
			}
			if err := up.Send(m); err != nil {
				return
			}
		}
	}()
	down := make(chan error, 1)
	go func() {
		down <- relayDown(up, stream)
	}()
	select {
	case err := <-down:
		if cause := context.Cause(ctx); errors.Is(cause, broker.ErrSessionClosed) {
			return toStatus(cause)
		}
		return err
	case <-moved:
		cancel()
		return toStatus(fmt.Errorf("%w: the leader of queue group %s moved", broker.ErrStopped, group))
	}
}

// relayDown copies the leader's consume responses to the client until
// the leader's stream ends (nil for a clean end) or a send fails.
func relayDown(up grpc.BidiStreamingClient[pb.ConsumeRequest, pb.ConsumeResponse], stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse]) error {
	for {
		m, err := up.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}
