package broker

import "sync"

// A client that consumes at a queue's leader directly (not through the
// node it is connected to) learns of a new leader from that node: when the
// old leader went silent (paused, cut off) its stream would otherwise wait
// for the client's heartbeat limit, though the group serves again
// elsewhere within an election. The broker keeps one "leaders changed"
// signal for all queue groups; each session stream that asked for leader
// notices compares the leaders when it fires.

// leaderBoard is the signal: a channel closed, and replaced, whenever a
// queue group's leader changes as this node sees it.
type leaderBoard struct {
	mu      sync.Mutex
	changed chan struct{}
}

// wait returns the channel closed at the next change.
func (l *leaderBoard) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// bump closes the current channel.
func (l *leaderBoard) bump() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// watchLeaders bumps the board on each leader change of each queue group,
// until the broker closes: one goroutine per group, however many sessions
// listen.
func (b *Broker) watchLeaders() {
	for _, q := range b.queues {
		g := q.group
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for {
				select {
				case <-b.ctx.Done():
					return
				case <-g.LeaderChanged():
				}
				b.leaders.bump()
			}
		}()
	}
}

// GroupLeader is the leader of one queue group as this node knows it.
type GroupLeader struct {
	Group    string
	LeaderID string // "" when no leader is known
	// GRPCAddr is the leader's client address, "" when no leader or no
	// address of it is known.
	GRPCAddr string
}

// LeadersChanged returns a channel closed when the leader of any queue
// group next changes. Take it before QueueGroupLeaders, so a change in
// between is not missed.
func (b *Broker) LeadersChanged() <-chan struct{} { return b.leaders.wait() }

// QueueGroupLeaders returns the leader of each queue group, in group order.
func (b *Broker) QueueGroupLeaders() []GroupLeader {
	out := make([]GroupLeader, 0, len(b.queues))
	for _, q := range b.queues {
		_, id := q.group.Leader()
		l := GroupLeader{Group: q.name, LeaderID: string(id)}
		if id != "" {
			l.GRPCAddr, _ = b.node.MemberGRPCAddr(string(id))
		}
		out = append(out, l)
	}
	return out
}
