package broker

import (
	"context"
	"sync"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

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

// SessionOpened records a live session stream.
func (b *Broker) SessionOpened(id string) { b.sessions.open(id) }

// SessionClosed records the end of a session stream. When it was the
// session's last, its unacked gets return to their queues (redelivered) and
// its exclusive queues are deleted.
func (b *Broker) SessionClosed(ctx context.Context, id string) {
	if !b.sessions.close(id) {
		return
	}
	gotFrom := b.sessions.takeGets(id)
	for _, qg := range b.queues {
		holds := gotFrom[uint32(qg.idx)]
		if !holds {
			qg.fsm.read(func(g *fsm.QueueGroup) { holds = g.HasSession(id) })
		}
		if !holds {
			continue
		}
		var err error
		if d, derr := qg.dispatcher(); derr == nil {
			err = d.SessionDown(ctx, []string{id})
		} else {
			_, err = qg.run(ctx, &fsmpb.SessionDown{Sessions: []string{id}})
		}
		if err != nil {
			b.logger.Warn("session down failed", "session", id, "error", err)
		}
	}
	var owns bool
	b.readMeta(func(m *fsm.Meta) { owns = m.HasExclusiveQueues(id) })
	if owns {
		b.downMetaSessions(ctx, []string{id})
	}
}

// downMetaSessions deletes the exclusive queues of ended sessions.
func (b *Broker) downMetaSessions(ctx context.Context, sessions []string) {
	res, _, err := b.proposeMeta(ctx, &fsmpb.MetaSessionDown{Sessions: sessions})
	if err != nil {
		b.logger.Warn("could not delete exclusive queues of ended sessions", "group", metaGroupName, "sessions", sessions, "error", err)
		return
	}
	b.dropQueues(ctx, res.DroppedQueues)
}
