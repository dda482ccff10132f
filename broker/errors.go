package broker

import "github.com/warrenmq/warren/fsm"

// The state machines' domain errors, wrapped by the broker's results, so
// that a port (the AMQP listener) classifies them without importing fsm.
var (
	// ErrNotFound: a missing exchange, queue, binding, consumer or tag.
	ErrNotFound = fsm.ErrNotFound
	// ErrExists: a declaration that conflicts with what exists.
	ErrExists = fsm.ErrExists
	// ErrInvalid: input the state machine refuses (bad kind or argument,
	// a change of a built-in object).
	ErrInvalid = fsm.ErrInvalid
	// ErrPrecondition: valid, but the state forbids it (if-unused, another
	// session's exclusive queue).
	ErrPrecondition = fsm.ErrPrecondition
	// ErrLimit: past a virtual host's limit.
	ErrLimit = fsm.ErrLimit
	// ErrAccessRefused: refused whatever the permissions (a publish to an
	// internal exchange).
	ErrAccessRefused = fsm.ErrAccessRefused
)
