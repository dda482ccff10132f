package transport

import (
	"sync/atomic"
	"time"
)

// Observer hears of calls as they finish, for metrics. Its methods must
// be safe for concurrent use and quick: they run on the calls' goroutines.
type Observer interface {
	// PublishAnswered is told how long a Publish call took from its
	// arrival until its answer (every message confirmed, unroutable or
	// rejected: the publisher's confirm latency), for calls that did not
	// fail.
	PublishAnswered(d time.Duration, messages int)
}

// SetObserver makes o hear of calls from now on; nil stops that.
func (s *Server) SetObserver(o Observer) { s.observer.Store(&observerRef{o}) }

type observerRef struct{ o Observer }

// observerOf returns the Observer, or nil.
func (s *Server) observerOf() Observer {
	if r := s.observer.Load(); r != nil {
		return r.o
	}
	return nil
}

// Stats are what a Server holds open right now.
type Stats struct {
	// Sessions is the number of Session streams open on this node.
	Sessions int64
	// ConsumeStreams is the number of consume streams open on this node:
	// clients' and the ones followers proxy to it.
	ConsumeStreams int64
}

// streamCounts are a Server's open streams.
type streamCounts struct {
	sessions, consumes atomic.Int64
}

// Stats returns the streams open now. Safe for concurrent use.
func (s *Server) Stats() Stats {
	return Stats{Sessions: s.streams.sessions.Load(), ConsumeStreams: s.streams.consumes.Load()}
}
