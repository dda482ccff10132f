package broker

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

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

// LocalSession is a session with streams open on this node.
type LocalSession struct {
	ID string
	// Streams is how many Session streams it has open here.
	Streams int
}

// LocalSessions lists the sessions with a Session stream open on this
// node, by id after cursor, at most limit, and whether more follow.
// Sessions on other nodes are theirs to list.
func (b *Broker) LocalSessions(cursor string, limit int) ([]LocalSession, bool) {
	b.sessions.mu.Lock()
	all := make([]LocalSession, 0, len(b.sessions.count))
	for id, n := range b.sessions.count {
		all = append(all, LocalSession{ID: id, Streams: n})
	}
	b.sessions.mu.Unlock()
	slices.SortFunc(all, func(a, c LocalSession) int { return strings.Compare(a.ID, c.ID) })
	return pageAfter(all, func(s LocalSession) string { return s.ID }, cursor, limit)
}

// SessionOpened records a live session stream.
func (b *Broker) SessionOpened(id string) { b.sessions.open(id) }

// SessionClosed records the end of a session stream. When it was the
// session's last, its unacked gets return to their queues (redelivered) and
// its exclusive queues are deleted; SessionClosed waits for that, or for
// ctx. The work is done by the session reaper, for every session that
// ended meanwhile at once (reapSessions).
func (b *Broker) SessionClosed(ctx context.Context, id string) {
	if !b.sessions.close(id) {
		return
	}
	done := b.reaper.add(id, b.sessions.takeGets(id))
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// sessionsPerCommand bounds the session ids of one SessionDown or
// MetaSessionDown the broker proposes: 1,000 ids of at most 128 bytes stay
// far below a Raft entry's limit (raftgroup.MaxEntrySize, 256 KiB) and
// fsm.MaxSessionsPerCommand.
const sessionsPerCommand = 1000

// endedSession is a session whose last stream on this node ended.
type endedSession struct {
	id string
	// gotFrom lists the queue groups it took gets from through this node.
	gotFrom map[uint32]bool
	done    chan struct{}
}

// sessionReaper collects ended sessions for reapSessions.
type sessionReaper struct {
	mu      sync.Mutex
	pending []endedSession
	stopped bool // reapSessions has returned: nothing will reap
	kick    chan struct{}
}

func newSessionReaper() *sessionReaper { return &sessionReaper{kick: make(chan struct{}, 1)} }

// add queues an ended session; the channel closes once it is reaped (or
// the broker stops).
func (r *sessionReaper) add(id string, gotFrom map[uint32]bool) <-chan struct{} {
	done := make(chan struct{})
	r.mu.Lock()
	if r.stopped {
		// A stream that ends after the broker stopped: its waiter would
		// otherwise hold its handler until its context ends.
		r.mu.Unlock()
		close(done)
		return done
	}
	r.pending = append(r.pending, endedSession{id: id, gotFrom: gotFrom, done: done})
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return done
}

// stop returns the sessions waiting, and makes every later add done at
// once.
func (r *sessionReaper) stop() []endedSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	batch := r.pending
	r.pending = nil
	return batch
}

// take returns and forgets the sessions waiting.
func (r *sessionReaper) take() []endedSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	batch := r.pending
	r.pending = nil
	return batch
}

// reapSessions ends the sessions SessionClosed hands it, in batches: all
// that ended while the previous batch was being reaped go together. When
// thousands of sessions end at once (a client host's process dies), that
// is one SessionDown per queue group and one MetaSessionDown (per
// sessionsPerCommand sessions) instead of a command each, thousands of
// Raft entries and disk writes that delayed every other write of the
// groups, an unrelated publish's among them. Each session costs what it
// holds: the lookups are O(1) per session and group (the state machines'
// session and owner indexes).
func (b *Broker) reapSessions() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			for _, s := range b.reaper.stop() {
				close(s.done)
			}
			return
		case <-b.reaper.kick:
		}
		batch := b.reaper.take()
		// A session that opened a stream here again meanwhile lives on.
		ended := slices.DeleteFunc(slices.Clone(batch), func(s endedSession) bool { return b.sessions.live(s.id) })
		if len(ended) > 0 {
			ctx, cancel := context.WithTimeout(b.ctx, reapTimeout)
			b.endSessions(ctx, ended)
			cancel()
		}
		for _, s := range batch {
			close(s.done)
		}
	}
}

// reapTimeout bounds the work of one batch of ended sessions.
const reapTimeout = 30 * time.Second

// endSessions releases what a batch of ended sessions holds: first, in
// every queue group where one holds consumers or gets, a SessionDown
// (through the dispatcher on the leader, so it follows the settlements
// already queued), the groups in parallel; then their exclusive queues.
func (b *Broker) endSessions(ctx context.Context, batch []endedSession) {
	var wg sync.WaitGroup
	for _, qg := range b.queues {
		var holders []string
		qg.fsm.read(func(g *fsm.QueueGroup) {
			for _, s := range batch {
				if s.gotFrom[uint32(qg.idx)] || g.HasSession(s.id) {
					holders = append(holders, s.id)
				}
			}
		})
		if len(holders) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := qg.sessionDown(ctx, holders); err != nil {
				b.logger.Warn("session down failed", "group", qg.name, "sessions", len(holders), "error", err)
			}
		}()
	}
	wg.Wait()
	var owners []string
	b.readMeta(func(m *fsm.Meta) {
		for _, s := range batch {
			if m.HasExclusiveQueues(s.id) {
				owners = append(owners, s.id)
			}
		}
	})
	if len(owners) > 0 {
		b.downMetaSessions(ctx, owners)
	}
}

// sessionDown releases the consumers and gets of sessions in the group:
// through the dispatcher when this node leads the group, else proposed (or
// forwarded) in commands of at most sessionsPerCommand sessions.
func (q *queueGroup) sessionDown(ctx context.Context, sessions []string) error {
	if d, err := q.dispatcher(); err == nil {
		return d.SessionDown(ctx, sessions)
	}
	for chunk := range slices.Chunk(sessions, sessionsPerCommand) {
		if _, err := q.run(ctx, &fsmpb.SessionDown{Sessions: chunk}); err != nil {
			return err
		}
	}
	return nil
}

// downMetaSessions deletes the exclusive queues of ended sessions, in
// commands of at most sessionsPerCommand sessions, and drops their state
// in their groups.
func (b *Broker) downMetaSessions(ctx context.Context, sessions []string) {
	for chunk := range slices.Chunk(sessions, sessionsPerCommand) {
		res, _, err := b.proposeMeta(ctx, &fsmpb.MetaSessionDown{Sessions: chunk})
		if err != nil {
			b.logger.Warn("could not delete exclusive queues of ended sessions", "sessions", len(chunk), "error", err)
			continue
		}
		b.dropQueues(ctx, res.DroppedQueues, "exclusive queue's owner session ended")
	}
}
