package broker

import (
	"context"
	"errors"
	"sync"
)

// An operator can close a session from the management API, as RabbitMQ's
// UI closes a connection: every stream of the session on this node ends
// (its Session stream, its consume streams, an AMQP connection that is
// the session), so its consumers' unacked deliveries and its unacked gets
// return to their queues and its exclusive queues go, as when the client
// dies. A client that recovers by itself (the Go SDK, RabbitMQ clients
// with automatic recovery) connects again; to keep one out, remove its
// user or permissions.

// ErrSessionClosed ends the streams of a session that an operator closed.
var ErrSessionClosed = errors.New("the session was closed by an operator (management API)")

// sessionStreams holds the cancel function of every stream of each
// session on this node.
type sessionStreams struct {
	mu      sync.Mutex
	streams map[string]map[*context.CancelCauseFunc]struct{}
}

// TrackSessionStream records a stream of session id on this node, for
// CloseSession to end with cancel(ErrSessionClosed). The stream calls the
// returned func when it ends.
func (b *Broker) TrackSessionStream(id string, cancel context.CancelCauseFunc) (untrack func()) {
	s := &b.sessionStreams
	key := &cancel
	s.mu.Lock()
	if s.streams == nil {
		s.streams = map[string]map[*context.CancelCauseFunc]struct{}{}
	}
	if s.streams[id] == nil {
		s.streams[id] = map[*context.CancelCauseFunc]struct{}{}
	}
	s.streams[id][key] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.streams[id], key)
		if len(s.streams[id]) == 0 {
			delete(s.streams, id)
		}
	}
}

// CloseSession ends every stream of session id on this node (each fails
// with ErrSessionClosed) and returns how many it ended; 0 when the session
// has none here.
func (b *Broker) CloseSession(id string) int {
	s := &b.sessionStreams
	s.mu.Lock()
	var cancels []context.CancelCauseFunc
	for c := range s.streams[id] {
		cancels = append(cancels, *c)
	}
	s.mu.Unlock()
	for _, cancel := range cancels {
		cancel(ErrSessionClosed)
	}
	return len(cancels)
}
