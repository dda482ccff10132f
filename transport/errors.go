package transport

import (
	"context"
	"errors"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// reasonSessionClosed is the ErrorInfo reason of the streams of a session
// an operator closed: the node and the connection are fine, so a client
// re-opens its session on the same connection rather than leaving the node
// (client/retry.go mirrors it).
const reasonSessionClosed = "SESSION_CLOSED"

// invalidf reports bad client input.
func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// tooBigf reports input past a size limit.
func tooBigf(format string, args ...any) error {
	return status.Errorf(codes.ResourceExhausted, format, args...)
}

// resourceExhausted is implemented by errors that mean the node is short
// of a resource and refuses new messages until it has drained (those of
// internal/watermark, which this package does not import).
type resourceExhausted interface{ ResourceExhausted() bool }

// toStatus is the one place where errors become gRPC statuses: the errors
// that cross node-to-node calls by cluster's table (cluster.Status), next to
// the errors of the broker's consumers and of resource limits here.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var redirect *broker.NotLeaderError
	var low resourceExhausted
	switch {
	case errors.As(err, &low) && low.ResourceExhausted():
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.As(err, &redirect):
		return cluster.NotLeaderStatus(err, &redirect.NotLeaderError, redirect.Metadata()).Err()
	}
	if st, ok := cluster.Status(err); ok {
		return st.Err()
	}
	switch {
	case errors.Is(err, access.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, access.ErrThrottled):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, access.ErrNotReady):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, access.ErrDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, access.ErrNoVHost):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, broker.ErrUnknownTag):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, broker.ErrConsumerExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, broker.ErrSessionClosed):
		return cluster.ErrorWithReason(codes.Unavailable, err.Error(), reasonSessionClosed)
	case errors.Is(err, broker.ErrStopped), errors.Is(err, broker.ErrConsumerClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
