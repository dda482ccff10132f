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
	// applied is the index of the last entry whose Apply returned, or 0
	// when no entry was applied since start or since the last Restore.
	applied atomic.Uint64
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
	return resp
}

// Snapshot implements raft.FSM.
func (a *appliedFSM) Snapshot() (raft.FSMSnapshot, error) { return a.inner.Snapshot() }

// Restore implements raft.FSM. The snapshot's index is not passed to the
// FSM, so the wrapper forgets its index and Group.AppliedIndex falls back
// to Raft's, which Raft sets to the snapshot index once Restore returns.
func (a *appliedFSM) Restore(rc io.ReadCloser) error {
	a.applied.Store(0)
	return a.inner.Restore(rc)
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
	}
	return resp
}
