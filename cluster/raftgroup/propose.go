package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Propose appends data to g's log as one command and waits until this
// node's FSM has applied it. It returns the FSM's response for the entry,
// which must be of type R, and the entry's index. It is Append followed by
// Proposal.Wait: the one write path of a group. Propose is safe for
// concurrent use, and concurrency is what makes it fast: Raft writes the
// entries of concurrent proposals to disk and to followers in batches
// (hashicorp/raft#578).
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
//   - the FSM answered with another type than R: ErrUnexpectedResponse
//     (the entry was applied).
//
// ctx's deadline, if any, also bounds enqueueing into Raft.
func Propose[R any](ctx context.Context, g *Group, data []byte) (resp R, index uint64, err error) {
	p, err := Append[R](ctx, g, data)
	if err != nil {
		return resp, 0, err
	}
	return p.Wait(ctx)
}

// Proposal is an entry handed to Raft whose outcome is still to come.
type Proposal[R any] struct {
	g      *Group
	future raft.ApplyFuture
}

// Append hands data to Raft as g's next entry and returns without waiting
// for it to commit. Entries of successive Append calls from one goroutine
// are appended in call order, which lets a caller pipeline ordered entries
// (the publish committer keeps several in flight) and wait for each with
// Wait. Its errors are Propose's before anything was appended.
func Append[R any](ctx context.Context, g *Group, data []byte) (*Proposal[R], error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("raft group %s: %w: %d bytes, limit %d", g.name, ErrEntryTooLarge, len(data), MaxEntrySize)
	}
	if err := g.precheck(ctx); err != nil {
		return nil, err
	}
	return &Proposal[R]{g: g, future: g.raft.Apply(data, enqueueTimeout(ctx))}, nil
}

// Wait waits until the entry is applied to this node's FSM (or ctx ends)
// and returns the FSM's response and the entry's index, with Propose's
// errors.
func (p *Proposal[R]) Wait(ctx context.Context) (resp R, index uint64, err error) {
	g := p.g
	if err := g.awaitIndexed(ctx, p.future); err != nil {
		return resp, 0, err
	}
	raw := p.future.Response()
	resp, ok := raw.(R)
	if !ok {
		return resp, p.future.Index(), fmt.Errorf("raft group %s: %w: %T, want %T", g.name, ErrUnexpectedResponse, raw, resp)
	}
	return resp, p.future.Index(), nil
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
	if err := g.await(ctx, f); err != nil {
		return g.mapErr(ctx, err, false)
	}
	return nil
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
		return g.NotLeader()
	}
}

// NotLeader returns the error that says this node does not lead g, naming
// the leader it knows of (none while an election or a leadership transfer
// is under way).
func (g *Group) NotLeader() *NotLeaderError {
	addr, id := g.LiveLeader()
	return NewNotLeaderError(g.name, string(id), string(addr))
}

// mapErr turns Raft's future errors into the package's. appended says
// whether Raft had given the entry an index (Raft returns errors for
// entries it never took with index 0).
func (g *Group) mapErr(ctx context.Context, err error, appended bool) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err // from await: ctx.Err() unchanged
	case errors.Is(err, raft.ErrNotLeader):
		return g.NotLeader() // returned before the entry is appended
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Also before appending. This node still calls itself leader,
		// but will not be for long: name no leader.
		return NewNotLeaderError(g.name, "", "")
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

// awaitIndexed waits for f, an entry Raft may have appended, and maps its
// error with mapErr. The index tells whether Raft appended the entry, and
// is read only once the future is resolved: when ctx ends first, Raft may
// still be writing it (the race detector caught a configuration change
// doing that), and the outcome is unknown to the caller anyway.
func (g *Group) awaitIndexed(ctx context.Context, f raft.IndexFuture) error {
	err := g.await(ctx, f)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return g.mapErr(ctx, err, f.Index() != 0)
	}
}

// await waits for f, ctx or the end of Raft, whichever is first. Raft
// futures have no channel, so a goroutine waits for f; it ends when Raft
// resolves the future, which Raft does for every entry it took, at the
// latest on shutdown. The one exception is an entry still buffered in the
// apply channel (BatchApplyCh) when Raft stops: stopped unblocks the caller
// then, and that goroutine stays blocked. A ctx that never ends (the
// publish committer's) needs no goroutine unless BatchApplyCh is on: the
// caller waits for f itself, which spares a goroutine and a wake-up per
// entry.
func (g *Group) await(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil && !g.cfg.BatchApplyCh {
		return f.Error()
	}
	return await(ctx, f, g.stopped)
}

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
