package raftgroup

import (
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
)

// segmentStoreLogsKey is the go-metrics key of a segment store's write and
// fsync. raft-boltdb times its own writes (raft.boltdb.storeLogs);
// segmentlog, a leaf, does not, so timedLogStore does, and observe exports
// both as one histogram.
var segmentStoreLogsKey = []string{"raft", "segmentlog", "storeLogs"}

// timedLogStore times each StoreLogs of the store it wraps.
type timedLogStore struct{ raft.LogStore }

// StoreLogs writes logs to the wrapped store and records how long it took.
func (w timedLogStore) StoreLogs(logs []*raft.Log) error {
	defer metrics.MeasureSince(segmentStoreLogsKey, time.Now())
	return w.LogStore.StoreLogs(logs)
}

// StoreLog writes one log, timed as StoreLogs.
func (w timedLogStore) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }

// IsMonotonic passes on the wrapped store's raft.MonotonicLogStore:
// embedding the interface would hide it, and raft then leaves a gap in a
// store that cannot hold one after installing a snapshot.
func (w timedLogStore) IsMonotonic() bool { return isMonotonic(w.LogStore) }

// isMonotonic reports whether s is a raft.MonotonicLogStore that says so.
func isMonotonic(s raft.LogStore) bool {
	m, ok := s.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
