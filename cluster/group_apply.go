package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Propose appends data to the group's log as one command and waits until
// this node's FSM has applied it. It returns the FSM's response for the
// entry and the entry's index. Propose is safe for concurrent use, and
// concurrency is what makes it fast: Raft writes the entries of concurrent
// proposals to disk and to followers in batches (hashicorp/raft#578).
//
// Errors:
//   - len(data) > MaxEntrySize: ErrEntryTooLarge; nothing appended.
//   - ctx already done: ctx.Err(); nothing appended.
//   - not leader: *NotLeaderError naming the known leader; nothing
//     appended.
//   - ctx done while waiting: ctx.Err(); the entry may still commit and be
//     applied, because Raft cannot take an entry back (its timeout bounds
//     only enqueueing, hashicorp/raft#145).
//   - leadership lost after appending: an error wrapping ErrOutcomeUnknown
//     and raft.ErrLeadershipLost; the entry may or may not commit.
//   - group shut down: ErrGroupClosed, wrapped with ErrOutcomeUnknown if
//     the entry had been appended.
//
// ctx's deadline, if any, also bounds enqueueing into Raft.
func (g *Group) Propose(ctx context.Context, data []byte) (resp any, index uint64, err error) {
	if len(data) > MaxEntrySize {
		return nil, 0, fmt.Errorf("raft group %s: %w: %d bytes, limit %d", g.name, ErrEntryTooLarge, len(data), MaxEntrySize)
	}
	if err := g.precheck(ctx); err != nil {
		return nil, 0, err
	}
	f := g.raft.Apply(data, enqueueTimeout(ctx))
	if err := await(ctx, f, g.stopped); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The future is still Raft's to write: reading its index now
			// races with Raft. The outcome is unknown to the caller.
			return nil, 0, err
		}
		return nil, 0, g.mapErr(ctx, err, f.Index() != 0)
	}
	return f.Response(), f.Index(), nil
}

// Barrier waits until every entry appended before it has been applied to
// this node's FSM. Only the leader can run it, so a new leader calls it
// before serving reads from its state. Errors are those of Propose, except
// that ErrOutcomeUnknown just means leadership was lost.
func (g *Group) Barrier(ctx context.Context) error {
	if err := g.precheck(ctx); err != nil {
		return err
	}
	f := g.raft.Barrier(enqueueTimeout(ctx))
	if err := await(ctx, f, g.stopped); err != nil {
		return g.mapErr(ctx, err, false)
	}
	return nil
}

// AddVoter adds (or promotes) server id at addr as a voter of the group and
// waits until the configuration change commits. Must run on the leader;
// errors are those of Propose.
func (g *Group) AddVoter(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	if err := g.precheck(ctx); err != nil {
		return err
	}
	f := g.raft.AddVoter(id, addr, 0, enqueueTimeout(ctx))
	if err := await(ctx, f, g.stopped); err != nil {
		return g.mapErr(ctx, err, f.Index() != 0)
	}
	return nil
}

// RemoveServer removes server id from the group's configuration and waits
// until the change commits. Must run on the leader; errors are those of
// Propose. A node removed this way keeps running as a follower outside the
// configuration (ShutdownOnRemove is off) until its owner calls Shutdown.
func (g *Group) RemoveServer(ctx context.Context, id raft.ServerID) error {
	if err := g.precheck(ctx); err != nil {
		return err
	}
	f := g.raft.RemoveServer(id, 0, enqueueTimeout(ctx))
	if err := await(ctx, f, g.stopped); err != nil {
		return g.mapErr(ctx, err, f.Index() != 0)
	}
	return nil
}

// TransferLeadership asks the leader (this node) to hand leadership to the
// most up-to-date follower and waits for the attempt, which Raft bounds by
// the election timeout. Not leader → *NotLeaderError.
func (g *Group) TransferLeadership() error {
	if err := g.raft.LeadershipTransfer().Error(); err != nil {
		return g.mapErr(context.Background(), err, false)
	}
	return nil
}

// TransferLeadershipTo is TransferLeadership to a chosen server, used to
// spread the leaders of the queue groups over the nodes.
func (g *Group) TransferLeadershipTo(id raft.ServerID, addr raft.ServerAddress) error {
	if err := g.raft.LeadershipTransferToServer(id, addr).Error(); err != nil {
		return g.mapErr(context.Background(), err, false)
	}
	return nil
}

// Configuration returns the group's latest configuration (which may not be
// committed yet), as known to this node. The slice is a copy.
func (g *Group) Configuration() ([]raft.Server, error) {
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, g.mapErr(context.Background(), err, false)
	}
	return slices.Clone(f.Configuration().Servers), nil
}

// precheck fails fast, before anything reaches Raft: a done ctx, a
// stopped group, or a node that is not the leader.
func (g *Group) precheck(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch g.raft.State() {
	case raft.Leader:
		return nil
	case raft.Shutdown:
		return fmt.Errorf("raft group %s: %w", g.name, ErrGroupClosed)
	default:
		return g.notLeader()
	}
}

func (g *Group) notLeader() *NotLeaderError {
	addr, id := g.raft.LeaderWithID()
	return &NotLeaderError{Group: g.name, LeaderID: string(id), LeaderAddr: string(addr)}
}

// mapErr turns Raft's future errors into the package's. appended says
// whether Raft had given the entry an index (Raft returns errors for
// entries it never took with index 0).
func (g *Group) mapErr(ctx context.Context, err error, appended bool) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err // from await: ctx.Err() unchanged
	case errors.Is(err, raft.ErrNotLeader):
		return g.notLeader() // returned before the entry is appended
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Also before appending. This node still calls itself leader,
		// but will not be for long: name no leader.
		return &NotLeaderError{Group: g.name}
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("raft group %s: %w: %w", g.name, ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		if appended {
			return fmt.Errorf("raft group %s: %w: %w", g.name, ErrOutcomeUnknown, ErrGroupClosed)
		}
		return fmt.Errorf("raft group %s: %w", g.name, ErrGroupClosed)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		// The enqueue timeout is ctx's deadline, so report it as such.
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("raft group %s: %w: %w", g.name, context.DeadlineExceeded, err)
	default:
		return fmt.Errorf("raft group %s: %w", g.name, err)
	}
}

// enqueueTimeout converts ctx's deadline into Raft's enqueue timeout; zero
// (no deadline) means wait for Raft to take the entry, which it does
// promptly unless the leader loop is stuck.
func enqueueTimeout(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	if d := time.Until(dl); d > 0 {
		return d
	}
	return time.Nanosecond
}

// await waits for f, ctx or the end of Raft, whichever is first. Raft
// futures have no channel, so a goroutine waits for f; it ends when Raft
// resolves the future, which Raft does for every entry it took, at the
// latest on shutdown. The one exception is an entry still buffered in the
// apply channel (BatchApplyCh) when Raft stops: stopped unblocks the caller
// then, and that goroutine stays blocked.
func await(ctx context.Context, f raft.Future, stopped <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-stopped:
		// Raft's goroutines have exited; a resolved future wins.
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}
