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

// dial tries addrs in order and returns the first connection that becomes
// ready. Reconnect will grow from here: the same loop, with backoff and the
// leader hint first.
func dial(ctx context.Context, addrs []string, o *options) (*grpc.ClientConn, string, error) {
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                o.keepaliveTime,
			Timeout:             o.keepaliveTimeout,
			PermitWithoutStream: true,
		}),
	}, o.dialOptions...)
	var errs []error
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr, dialOpts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		err = waitReady(ctx, conn, o)
		if err == nil {
			return conn, addr, nil
		}
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("client: connect to %s: %w", addr, ctx.Err())
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, "", status.Errorf(codes.Unavailable, "client: no reachable address: %v", errors.Join(errs...))
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
