package transport

import (
	"io"

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
// (the Subscribe, with session and consumer tag filled in) included.
func (s *Server) proxyConsume(stream grpc.BidiStreamingServer[pb.ConsumeRequest, pb.ConsumeResponse], vhost string, first *pb.ConsumeRequest, group string) error {
	leader, err := s.leaderBroker(group)
	if err != nil {
		return err
	}
	up, err := leader.Consume(withVHost(stream.Context(), vhost))
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
