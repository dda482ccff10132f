package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// dial tries addrs in order, once, and returns the first connection that
// becomes ready with its index. New uses it; failover (reconnect.go) uses
// dialAddr in rounds with backoff.
func dial(ctx context.Context, addrs []string, o *options) (*grpc.ClientConn, int, error) {
	var errs []error
	for i, addr := range addrs {
		conn, err := dialAddr(ctx, addr, o)
		if err == nil {
			return conn, i, nil
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("client: connect to %s: %w", addr, ctx.Err())
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, 0, status.Errorf(codes.Unavailable, "client: no reachable address: %v", errors.Join(errs...))
}

// dialAddr connects to addr and waits until the connection is ready, bounded
// by ctx and the connect timeout. On failure the connection is closed and nil.
func dialAddr(ctx context.Context, addr string, o *options) (*grpc.ClientConn, error) {
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                o.keepaliveTime,
			Timeout:             o.keepaliveTimeout,
			PermitWithoutStream: true,
		}),
		// Streams' first messages are checked where they are made
		// (Subscribe): a refused Send would leave the stream open.
		grpc.WithChainUnaryInterceptor(checkUTF8Unary),
	}, o.dialOptions...)
	if creds := newCallCredentials(o); creds != nil {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(creds))
	}
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, conn, o); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// waitReady starts connecting and waits until conn is ready, fails, or the
// connect timeout or ctx ends.
func waitReady(ctx context.Context, conn *grpc.ClientConn, o *options) error {
	ctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			return errors.New("connection failed")
		case connectivity.Shutdown:
			return errors.New("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("not ready: %w", ctx.Err())
		}
	}
}
