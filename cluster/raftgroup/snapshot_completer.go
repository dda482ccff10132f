package raftgroup

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// SnapshotCompleter is implemented by an FSM whose persisted snapshots are
// not complete by themselves (a queue group keeping message bodies in a
// store of its own persists its state without them, so a snapshot costs
// what the state's index costs, not what the queued bodies weigh). Every
// read of a snapshot but the restore at start goes through it — the stream
// sent to a follower, which needs nothing but that stream, and the restore
// of a snapshot a follower installed — so they read the complete snapshot.
// The restore at start reads this node's own snapshot as it persisted it.
//
// CompleteSnapshot takes the persisted snapshot's size and reader (and owns
// the reader) and can open it again with reopen; it returns the complete
// stream's exact size (Raft sends a follower that many bytes) and the
// stream.
type SnapshotCompleter interface {
	CompleteSnapshot(size int64, persisted io.ReadCloser, reopen func() (io.ReadCloser, error)) (completeSize int64, complete io.ReadCloser, err error)
}

// completingSnapshots is the snapshot store of a group whose FSM is a
// SnapshotCompleter: Open returns the completed snapshot, except while the
// group starts.
type completingSnapshots struct {
	raft.SnapshotStore
	completer SnapshotCompleter
	// starting is set while raft.NewRaft runs: its only Open is the
	// restore of this node's own newest snapshot, which reads it as
	// persisted (the FSM's own store holds what it refers to; the FSM must
	// restore that), so a restart costs the index, not the bodies. A
	// snapshot is sent to a follower only by a leader, which this node can
	// be only after an election, once NewRaft has returned.
	starting atomic.Bool
}

// Open implements raft.SnapshotStore.
func (s *completingSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err != nil || s.starting.Load() {
		return meta, rc, err
	}
	reopen := func() (io.ReadCloser, error) {
		_, rc, err := s.SnapshotStore.Open(id)
		return rc, err
	}
	size, complete, err := s.completer.CompleteSnapshot(meta.Size, rc, reopen)
	if err != nil {
		return nil, nil, fmt.Errorf("complete snapshot %s: %w", id, err)
	}
	m := *meta
	m.Size = size
	return &m, complete, nil
}
