package fsm

import "errors"

// ErrUnknownCommand means a log entry has a command type this build does not
// know (replicas must stop rather than skip it), or a body given to Encode or
// Apply is no command (nil, or a message of no command type), or Apply got a
// command of the other machine.
var ErrUnknownCommand = errors.New("unknown command type")

// ErrBadCommand means a log entry could not be decoded, or a command's body
// is a typed nil pointer.
var ErrBadCommand = errors.New("malformed command")

// ErrNotFound is wrapped by results about a missing exchange, queue,
// binding, consumer or delivery tag.
var ErrNotFound = errors.New("not found")

// ErrExists is wrapped when a declaration conflicts with what exists under
// the same name (re-declare with other properties).
var ErrExists = errors.New("exists with other properties")

// ErrInvalid is wrapped for input the machine refuses (bad kind, bad
// argument type, built-in object changes).
var ErrInvalid = errors.New("invalid")

// ErrPrecondition is wrapped when a request is valid but the state forbids
// it (delete if-unused while in use, exclusive queue of another session,
// unknown delivery tag).
var ErrPrecondition = errors.New("precondition failed")

// ErrBadSnapshot is wrapped when a snapshot cannot be decoded.
var ErrBadSnapshot = errors.New("bad snapshot")

// ErrLimit is wrapped when a command would take a virtual host past one of
// its limits (max-queues, max-exchanges, max-bindings).
var ErrLimit = errors.New("limit reached")

// ErrAccessRefused is wrapped when a request is refused whatever the
// caller's permissions, as RabbitMQ's 403 ACCESS_REFUSED: a publish
// straight to an internal exchange.
var ErrAccessRefused = errors.New("access refused")
