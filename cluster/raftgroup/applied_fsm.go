package raftgroup

import (
	"errors"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// appliedFSM wraps the caller's FSM to record the index of the last entry
// the FSM has finished applying. raft.AppliedIndex is not that: Raft
// advances it when it hands entries to the FSM goroutine, before they are
// applied, so a reader that waits for it can still see old state.
type appliedFSM struct {
	inner raft.FSM
	// applied is the index of the last entry whose Apply returned; after
	// a Restore, the index the inner FSM reports for the restored state
	// (CommandIndexer). 0 when nothing was applied or restored since
	// start: the state is empty, the index of no entry.
	applied atomic.Uint64
	// restoredUnknown is set by a Restore of an FSM that cannot tell its
	// index, until the next entry is applied: Group.AppliedIndex then
	// falls back to Raft's.
	restoredUnknown atomic.Bool
}

// CommandIndexer is implemented by an FSM that knows the index of the
// last command in its state, also right after a Restore (a snapshot's
// index is not passed to raft.FSM.Restore). With it, Group.AppliedIndex
// and Group.CaughtUp are exact after a restore too; without it they trust
// Raft's applied index until the next entry is applied, which runs ahead
// of the FSM.
type CommandIndexer interface {
	LastCommandIndex() uint64
}

// wrapFSM returns the wrapper for inner, preserving raft.BatchingFSM, which
// Raft detects by type assertion.
func wrapFSM(inner raft.FSM) (raft.FSM, *appliedFSM, error) {
	if _, ok := inner.(raft.ConfigurationStore); ok {
		// Hiding it would silently stop configuration callbacks; no
		// Warren FSM needs it, so refuse rather than support a fourth
		// wrapper shape.
		return nil, nil, errors.New("FSMs implementing raft.ConfigurationStore are not supported")
	}
	a := &appliedFSM{inner: inner}
	if b, ok := inner.(raft.BatchingFSM); ok {
		return &appliedBatchingFSM{appliedFSM: a, batching: b}, a, nil
	}
	return a, a, nil
}

// Apply implements raft.FSM.
func (a *appliedFSM) Apply(l *raft.Log) any {
	resp := a.inner.Apply(l)
	a.applied.Store(l.Index)
	a.appliedSinceRestore()
	return resp
}

// Snapshot implements raft.FSM.
func (a *appliedFSM) Snapshot() (raft.FSMSnapshot, error) { return a.inner.Snapshot() }

// Restore implements raft.FSM. The snapshot's index is not passed to the
// FSM: the wrapper takes the inner FSM's own (CommandIndexer), or else
// forgets its index, and Group.AppliedIndex falls back to Raft's, which
// Raft sets to the snapshot index once Restore returns.
func (a *appliedFSM) Restore(rc io.ReadCloser) error {
	err := a.inner.Restore(rc)
	if ci, ok := a.inner.(CommandIndexer); ok {
		a.applied.Store(ci.LastCommandIndex())
		a.restoredUnknown.Store(false)
	} else {
		a.applied.Store(0)
		a.restoredUnknown.Store(true)
	}
	return err
}

// appliedSinceRestore ends the fallback to Raft's index once an entry is
// applied after a Restore (a load first: the common path writes nothing).
func (a *appliedFSM) appliedSinceRestore() {
	if a.restoredUnknown.Load() {
		a.restoredUnknown.Store(false)
	}
}

// appliedBatchingFSM is appliedFSM for an FSM that also batches.
type appliedBatchingFSM struct {
	*appliedFSM
	batching raft.BatchingFSM
}

// ApplyBatch implements raft.BatchingFSM.
func (a *appliedBatchingFSM) ApplyBatch(logs []*raft.Log) []any {
	resp := a.batching.ApplyBatch(logs)
	if n := len(logs); n > 0 {
		a.applied.Store(logs[n-1].Index)
		a.appliedSinceRestore()
	}
	return resp
}
