package client

import (
	"sync"
)

// State is the connection state of a Client, reported through the callback
// given with WithStateChange and by Client.State.
type State int

const (
	// Connecting means New is dialing the addresses for the first time.
	Connecting State = iota
	// Connected means the client has a ready connection to a node.
	Connected
	// Reconnecting means the connection failed and the client is dialing
	// the addresses again (with backoff between full rounds). Calls wait
	// for the new connection, bounded by their ctx.
	Reconnecting
	// Closed means Close ran (or New failed); the state never changes again.
	Closed
)

// String returns "connecting", "connected", "reconnecting" or "closed".
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	default:
		return "unknown"
	}
}

// stateReporter records the client's state and reports every change to the
// callback from one goroutine (run), in order, so the callback is never
// called concurrently with itself.
type stateReporter struct {
	f    func(State) // nil: nothing to report
	wake chan struct{}

	mu    sync.Mutex
	cur   State
	queue []State // changes not yet reported
}

func newStateReporter(f func(State)) *stateReporter {
	return &stateReporter{f: f, wake: make(chan struct{}, 1), cur: Connecting}
}

// get returns the current state.
func (r *stateReporter) get() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// set moves to s and queues the change for the callback. It does nothing
// when s is the current state or the state is Closed.
func (r *stateReporter) set(s State) {
	r.mu.Lock()
	if r.cur == s || r.cur == Closed {
		r.mu.Unlock()
		return
	}
	r.cur = s
	if r.f != nil {
		r.queue = append(r.queue, s)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run reports queued changes until done is closed, then reports what is
// left (Close queues Closed before it closes done) and returns.
func (r *stateReporter) run(done <-chan struct{}) {
	for {
		select {
		case <-r.wake:
			r.flush()
		case <-done:
			r.flush()
			return
		}
	}
}

func (r *stateReporter) flush() {
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		r.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, s := range q {
			r.f(s)
		}
	}
}
