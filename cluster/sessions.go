package cluster

import "sync"

// sessionRegistry counts the open Session streams per session id on this
// node. A session is live while at least one is open.
type sessionRegistry struct {
	mu    sync.Mutex
	count map[string]int
}

func newSessionRegistry() *sessionRegistry {
	return &sessionRegistry{count: map[string]int{}}
}

func (r *sessionRegistry) open(id string) {
	r.mu.Lock()
	r.count[id]++
	r.mu.Unlock()
}

// close reports whether this was the session's last stream.
func (r *sessionRegistry) close(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[id]--
	if r.count[id] > 0 {
		return false
	}
	delete(r.count, id)
	return true
}

func (r *sessionRegistry) live(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[id] > 0
}
