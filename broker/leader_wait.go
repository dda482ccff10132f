package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// leaderHold is the longest a node holds a publish for a queue group that
// has no leader, waiting for one to be elected, before it answers
// NOT_LEADER (Consul's RPC hold does the same for its forwarded calls). A
// publish that arrives during an election is then committed the moment a
// leader is known, instead of bouncing back to a client that retries on
// its own schedule. It is longer than an election after a leader's death
// and shorter than a client's usual deadline.
const leaderHold = 5 * time.Second

// electionHold is how long after it last knew a leader of g a node still
// holds publishes for it: one and a half election timeouts, well past an
// election after a leader's death (milliseconds) or silence (¾ of the
// heartbeat timeout, counted before Raft clears the leader), and short
// enough that a node cut off from the majority answers NOT_LEADER soon.
func electionHold(g *raftgroup.Group) time.Duration {
	return g.Timings().ElectionTimeout * 3 / 2
}

// leaderPoll is how often a held or forwarded call looks again at
// whether the group's leader is live (raftgroup.Group.LiveLeader), which
// changes with time and not only with Raft's observations.
const leaderPoll = 50 * time.Millisecond

// errLeaderChanged is the cause of a forwarded call cancelled because the
// group's leader changed while it was in flight.
var errLeaderChanged = errors.New("the group's leader changed")

// broadcast is a channel closed and replaced at each fire, for waiting on
// the next change of something.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns the channel that the next fire closes.
func (s *broadcast) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *broadcast) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// submitter returns how to commit messages on this group now: on this
// node's committer when it serves as the group's leader, else forwarded to
// the leader. While the group has no leader, or this node was elected and
// has not started serving yet, it waits (at most leaderHold, bounded by
// ctx) for that to change.
func (q *queueGroup) submitter(ctx context.Context) (func(context.Context, []*fsmpb.QueueSpec, []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error), error) {
	var hold <-chan time.Time
	for {
		changed, served := q.group.LeaderChanged(), q.dispChanged.wait()
		_, err := q.dispatcher()
		if err == nil {
			return q.commit.submit, nil
		}
		if _, ok := LeaderElsewhere(err); !ok {
			return nil, err
		}
		if _, id := q.group.LiveLeader(); id != "" && string(id) != q.b.node.NodeID() {
			return func(ctx context.Context, queues []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error) {
				return q.b.forwardEnqueue(ctx, q, queues, msgs)
			}, nil
		}
		// Hold only while an election may still be under way: a node cut
		// off from the majority knows no leader for good, and its clients
		// must hear NOT_LEADER at once to try another node.
		if q.group.NoLeaderFor() >= electionHold(q.group) {
			return nil, err
		}
		if hold == nil {
			t := time.NewTimer(leaderHold)
			defer t.Stop()
			hold = t.C
		}
		select {
		case <-changed:
		case <-served:
		case <-time.After(leaderPoll): // a silent leader heard from again
		case <-hold:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// leaderCall runs call with a connection to g's leader and a context that
// is cancelled if the leader this node knows of changes meanwhile, or goes
// silent (LiveLeader): a call
// in flight to a leader that was deposed or went silent would otherwise
// wait for the peer connection's keepalive (10 s) while a new leader
// serves. Such a call fails with raftgroup.ErrOutcomeUnknown (it may have
// committed; the client's retry is deduplicated).
func (b *Broker) leaderCall(ctx context.Context, g *raftgroup.Group, call func(context.Context, *grpc.ClientConn) error) error {
	changed := g.LeaderChanged()
	_, leader := g.LiveLeader()
	conn, err := b.node.LeaderConn(g)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		tick := time.NewTicker(leaderPoll)
		defer tick.Stop()
		for {
			select {
			case <-changed:
				cancel(errLeaderChanged)
				return
			case <-tick.C:
				if _, id := g.LiveLeader(); id != leader {
					cancel(errLeaderChanged) // gone silent
					return
				}
			case <-cctx.Done():
				return
			}
		}
	}()
	err = call(cctx, conn)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errLeaderChanged) {
		return fmt.Errorf("forward to the leader of %s: %w: %w", g.Name(), raftgroup.ErrOutcomeUnknown, errLeaderChanged)
	}
	return err
}
