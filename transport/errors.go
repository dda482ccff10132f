package transport

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain is the ErrorInfo domain of Warren's errors.
const errorDomain = "warren"

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

// toStatus is the one place where domain errors become gRPC statuses.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nle *cluster.NotLeaderError
	var low resourceExhausted
	switch {
	case errors.As(err, &low) && low.ResourceExhausted():
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.As(err, &nle):
		md := map[string]string{"group": nle.Group, "leader_id": nle.LeaderID, "leader_addr": nle.LeaderAddr}
		if nle.LeaderGRPCAddr != "" {
			md["leader_grpc_addr"] = nle.LeaderGRPCAddr
		}
		if nle.MetaIndex != 0 {
			md["meta_index"] = strconv.FormatUint(nle.MetaIndex, 10)
		}
		return withInfo(codes.Unavailable, err.Error(), "NOT_LEADER", md)
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return withInfo(codes.Unavailable, err.Error(), "OUTCOME_UNKNOWN", nil)
	case errors.Is(err, fsm.ErrNotFound):
		return status.Error(codes.NotFound, plain(err, fsm.ErrNotFound))
	case errors.Is(err, fsm.ErrExists):
		return status.Error(codes.FailedPrecondition, plain(err, fsm.ErrExists))
	case errors.Is(err, fsm.ErrInvalid):
		return status.Error(codes.InvalidArgument, plain(err, fsm.ErrInvalid))
	case errors.Is(err, fsm.ErrPrecondition):
		return status.Error(codes.FailedPrecondition, plain(err, fsm.ErrPrecondition))
	case errors.Is(err, dispatch.ErrUnknownTag):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, dispatch.ErrConsumerExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, dispatch.ErrStopped), errors.Is(err, dispatch.ErrConsumerClosed),
		errors.Is(err, cluster.ErrGroupClosed), errors.Is(err, cluster.ErrShuttingDown),
		errors.Is(err, cluster.ErrMemberAlive):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// plain drops a leading "<sentinel>: " from err's text: the status code
// already says it, and "not found: no queue \"q\"" reads worse than
// "no queue \"q\"".
func plain(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

func withInfo(code codes.Code, msg, reason string, md map[string]string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain, Metadata: md}); err == nil {
		return d.Err()
	}
	return st.Err()
}
