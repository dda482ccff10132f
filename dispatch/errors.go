package dispatch

import (
	"errors"
	"fmt"
)

// ErrUnknownTag means an ack, nack or reject named a delivery tag that is
// not outstanding on that consumer (never delivered, or already settled).
var ErrUnknownTag = errors.New("unknown delivery tag")

// ErrConsumerExists means a consumer with the same session and tag is
// already attached to the queue.
var ErrConsumerExists = errors.New("consumer tag already in use")

// ErrStopped means the dispatcher stopped, normally because this node lost
// the group's leadership.
var ErrStopped = errors.New("dispatcher stopped")

// ErrConsumerClosed means the consumer was closed.
var ErrConsumerClosed = errors.New("consumer closed")

// ErrSessionEnded ends a consumer whose session was ended in the state (a
// SessionDown), for example by a new leader that did not see it attached
// in time; the client may subscribe again.
var ErrSessionEnded = fmt.Errorf("%w: its session was ended; subscribe again", ErrConsumerClosed)
