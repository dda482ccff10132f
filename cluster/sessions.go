package cluster

import "sync"

// sessionRegistry counts the open Session streams per session id on this
// node. A session is live while at least one is open.
type sessionRegistry struct {
	mu    sync.Mutex
	count map[string]int
	// gets records the queue groups a session took unacked gets from
	// through this node: when the get was forwarded, this node's replica
	// may not show it yet when the session ends.
	gets map[string]map[uint32]bool
}

func newSessionRegistry() *sessionRegistry {
	return &sessionRegistry{count: map[string]int{}, gets: map[string]map[uint32]bool{}}
}

// noteGet records that session took a get from queue group g.
func (r *sessionRegistry) noteGet(id string, g uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gets[id] == nil {
		r.gets[id] = map[uint32]bool{}
	}
	r.gets[id][g] = true
}

// takeGets returns and forgets the groups session took gets from.
func (r *sessionRegistry) takeGets(id string) map[uint32]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gets[id]
	delete(r.gets, id)
	return g
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
