package raftgroup

import (
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
)

// walStoreLogsKey is the go-metrics key of a wal store's write and fsync.
// raft-boltdb times its own writes (raft.boltdb.storeLogs); raft-wal does
// not, so walTimed does, and observe exports both as one histogram.
var walStoreLogsKey = []string{"raft", "wal", "storeLogs"}

// walTimed times each StoreLogs of the wal store it wraps.
type walTimed struct{ raft.LogStore }

// StoreLogs writes logs to the wrapped store and records how long it took.
func (w walTimed) StoreLogs(logs []*raft.Log) error {
	defer metrics.MeasureSince(walStoreLogsKey, time.Now())
	return w.LogStore.StoreLogs(logs)
}

// StoreLog writes one log, timed as StoreLogs.
func (w walTimed) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }
