package amqp

import (
	"context"
	"errors"
	"strings"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// resourceExhausted is implemented by the watermark's errors.
type resourceExhausted interface{ ResourceExhausted() bool }

// toWireError is the one place where errors become AMQP reply codes, as
// RabbitMQ answers the same situations: 404/403/405/406 close the channel,
// the rest the connection.
func toWireError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	text := err.Error()
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		// A call this node made to a queue's leader for its client.
		text = st.Message()
		switch st.Code() {
		case codes.NotFound:
			return wire.Errorf(wire.NotFound, "%s", text)
		case codes.PermissionDenied:
			return wire.Errorf(wire.AccessRefused, "%s", text)
		case codes.FailedPrecondition, codes.AlreadyExists, codes.InvalidArgument, codes.OutOfRange:
			if locked(text) {
				return wire.Errorf(wire.ResourceLocked, "%s", text)
			}
			return wire.Errorf(wire.PreconditionFailed, "%s", text)
		case codes.ResourceExhausted:
			return wire.Errorf(wire.ResourceError, "%s", text)
		}
		return wire.Errorf(wire.InternalError, "%s", text)
	}
	var low resourceExhausted
	switch {
	case errors.Is(err, access.ErrDenied), errors.Is(err, broker.ErrAccessRefused):
		return wire.Errorf(wire.AccessRefused, "%s", text)
	case errors.Is(err, access.ErrNoVHost):
		return wire.Errorf(wire.NotAllowed, "%s", text)
	case errors.Is(err, broker.ErrNotFound):
		return wire.Errorf(wire.NotFound, "%s", text)
	case errors.Is(err, broker.ErrPrecondition) && locked(text):
		return wire.Errorf(wire.ResourceLocked, "%s", text)
	case errors.Is(err, broker.ErrExists), errors.Is(err, broker.ErrPrecondition), errors.Is(err, broker.ErrInvalid),
		errors.Is(err, broker.ErrLimit), errors.Is(err, broker.ErrUnknownTag):
		return wire.Errorf(wire.PreconditionFailed, "%s", text)
	case errors.Is(err, broker.ErrConsumerExists):
		return wire.Errorf(wire.NotAllowed, "%s", text)
	case errors.As(err, &low) && low.ResourceExhausted():
		return wire.Errorf(wire.ResourceError, "%s", text)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return wire.Errorf(wire.InternalError, "the broker did not answer in time: %s", text)
	}
	return wire.Errorf(wire.InternalError, "%s", text)
}

// locked reports the broker's refusals of another session's exclusive
// queue, which RabbitMQ answers with 405 RESOURCE_LOCKED (the broker
// wraps them in its precondition error, with these words).
func locked(text string) bool {
	return strings.Contains(text, "resource locked") || strings.Contains(text, "exclusive to another session")
}
