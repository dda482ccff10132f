package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"google.golang.org/protobuf/proto"
)

// replicated is what stateMachine needs of a group's state: fsm.Meta and
// fsm.QueueGroup.
type replicated interface {
	Apply(index uint64, cmd proto.Message) *fsm.Result
	WriteSnapshot(w io.Writer) error
	LastIndex() uint64
}

// stateMachine adapts a group's state to raft.FSM, for the meta group and
// the queue groups alike. Apply decodes each entry, applies it under the
// write lock and answers the *fsm.Result; reads take the read lock. It
// records the index applied last, so a reader can wait for its own writes
// (waitApplied).
//
// No entry stops the group. One that does not decode, or is a command of
// the other kind of group, is applied as an error result, computed alike
// on every replica and changing nothing: a group stopped by its log would
// stop again at every replay, and a node restarted under systemd would
// crash-loop with its data unusable. (A build meeting a command type of a
// newer one would refuse it where newer replicas apply it; commands of a
// new type are proposed only once every voter gossips an FSM version that
// knows them, STYLE §2.)
type stateMachine[S replicated] struct {
	restore func(r io.Reader) (S, error)
	// refused, if set, hears of each entry that was no command of this
	// group, for the log.
	refused func(index uint64, err error)
	// applied, if set, runs after each command under the write lock, so
	// in log order; the func it returns, if any, runs once the lock is
	// released.
	applied func(cmd proto.Message, res *fsm.Result) (after func())
	// prepare, if set, sees each decoded command before the state applies
	// it, under the write lock (a queue group's bodies leave for its body
	// store there, or a stray BodyRef is dropped).
	prepare func(index uint64, cmd proto.Message)
	// capture, if set, takes the snapshot under the write lock in place
	// of serialising the state into memory under the read lock: a queue
	// group's copy-on-write view (fsm.QueueGroup.Capture, which marks the
	// state's shared blocks, a write), serialised by Persist while
	// commands apply.
	capture func(S) (raft.FSMSnapshot, error)
	// complete, if set, completes a persisted snapshot whenever one is
	// read (CompleteSnapshot); else snapshots are read as persisted.
	complete func(size int64, persisted io.ReadCloser, reopen func() (io.ReadCloser, error)) (int64, io.ReadCloser, error)

	mu    sync.RWMutex
	state S
	index uint64 // the last entry applied, or the restored snapshot's
	cond  *sync.Cond
}

func newStateMachine[S replicated](state S, restore func(io.Reader) (S, error), refused func(uint64, error)) *stateMachine[S] {
	f := &stateMachine[S]{restore: restore, refused: refused, state: state}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// newMetaStateMachine is the meta group's state machine.
func newMetaStateMachine(queueGroups int, refused func(uint64, error)) *stateMachine[*fsm.Meta] {
	restore := func(r io.Reader) (*fsm.Meta, error) { return fsm.RestoreMeta(r, queueGroups) }
	return newStateMachine(fsm.NewMeta(queueGroups), restore, refused)
}

// newQueueStateMachine is a queue group's state machine; with bodies, it
// keeps the message bodies in that store (bodies.go), else in the state.
func newQueueStateMachine(refused func(uint64, error), bodies *bodyKeeper) *stateMachine[*fsm.QueueGroup] {
	if bodies == nil {
		f := newStateMachine(fsm.NewQueueGroup(), restoreInMemory, refused)
		f.prepare = dropBodyRefs
		f.capture = captureView
		return f
	}
	f := newStateMachine(fsm.NewQueueGroup(), bodies.restore, refused)
	f.prepare = bodies.take
	f.capture = bodies.capture
	f.complete = bodies.complete
	return f
}

// Apply implements raft.FSM. Its answer is always an *fsm.Result.
func (f *stateMachine[S]) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return (*fsm.Result)(nil)
	}
	// A body that does not decode is applied as no command (nil): the
	// state refuses it, and a command of the other kind of group, without
	// a change but for its applied index.
	cmd, decodeErr := fsm.Decode(l.Data)
	f.mu.Lock()
	if f.prepare != nil && decodeErr == nil {
		f.prepare(l.Index, cmd)
	}
	res := f.state.Apply(l.Index, cmd)
	if decodeErr != nil {
		res = &fsm.Result{Err: decodeErr}
	}
	f.index = l.Index
	f.cond.Broadcast()
	var after func()
	if f.applied != nil {
		after = f.applied(cmd, res)
	}
	f.mu.Unlock()
	if after != nil {
		after()
	}
	if f.refused != nil && (errors.Is(res.Err, fsm.ErrBadCommand) || errors.Is(res.Err, fsm.ErrUnknownCommand)) {
		f.refused(l.Index, res.Err)
	}
	return res
}

// read runs fn with the state under the read lock.
func (f *stateMachine[S]) read(fn func(S)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// appliedIndex is the index of the last entry applied.
func (f *stateMachine[S]) appliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index
}

// maxApplyWait bounds how long a request waits for the local state to
// reach the index its client has already seen.
const maxApplyWait = 10 * time.Second

// waitApplied blocks until the state has applied index (at most
// maxApplyWait), so a client never misses a change it has already seen
// committed.
func (f *stateMachine[S]) waitApplied(ctx context.Context, index uint64) error {
	if index == 0 || f.appliedIndex() >= index {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, maxApplyWait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.index < index {
		if ctx.Err() != nil {
			return fmt.Errorf("state has not reached index %d: %w", index, ctx.Err())
		}
		f.cond.Wait()
	}
	return nil
}

// Snapshot implements raft.FSM. A queue group's state is captured under
// the write lock, in O(its structure), not O(its messages) (capture), and
// serialised by Persist while commands apply; the meta state, small, is
// serialised under the read lock, so Persist needs no lock.
func (f *stateMachine[S]) Snapshot() (raft.FSMSnapshot, error) {
	if f.capture != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.capture(f.state)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	var buf bytes.Buffer
	if err := f.state.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return writtenSnapshot(func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}), nil
}

// Restore implements raft.FSM.
func (f *stateMachine[S]) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := f.restore(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = s
	f.index = s.LastIndex()
	f.cond.Broadcast()
	f.mu.Unlock()
	return nil
}

// captureView is a queue group's snapshot with bodies in memory: the
// state as captured, written by Persist.
func captureView(g *fsm.QueueGroup) (raft.FSMSnapshot, error) {
	return writtenSnapshot(g.Capture().WriteSnapshot), nil
}

// writtenSnapshot is a snapshot that writes itself to its sink when
// persisted: one serialised in memory (the meta state), or a captured
// queue group state serialised then.
type writtenSnapshot func(io.Writer) error

func (write writtenSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := write(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (writtenSnapshot) Release() {}

// LastCommandIndex implements raftgroup.CommandIndexer: the index of the
// last command applied, or after a Restore the restored state's, so a
// follower's catch-up is exact right after it installs a snapshot.
func (f *stateMachine[S]) LastCommandIndex() uint64 { return f.appliedIndex() }

// CompleteSnapshot implements raftgroup.SnapshotCompleter.
func (f *stateMachine[S]) CompleteSnapshot(size int64, persisted io.ReadCloser, reopen func() (io.ReadCloser, error)) (int64, io.ReadCloser, error) {
	if f.complete == nil {
		return size, persisted, nil
	}
	return f.complete(size, persisted, reopen)
}

var (
	_ raftgroup.SnapshotCompleter = (*stateMachine[*fsm.Meta])(nil)
	_ raftgroup.CommandIndexer    = (*stateMachine[*fsm.Meta])(nil)
	_ raftgroup.CommandIndexer    = (*stateMachine[*fsm.QueueGroup])(nil)
)
