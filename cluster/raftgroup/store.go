package raftgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// On-disk layout of a group, under <DataDir>/groups/<name>/ (STYLE §4).
const (
	groupsDirName  = "groups"
	raftDBFileName = "raft.db"
	// snapshotsRetained is how many snapshots the FileSnapshotStore keeps:
	// the newest, plus one to fall back on if the newest is corrupt.
	snapshotsRetained = 2
	// logCacheSize is how many recent entries are kept in memory, so
	// replication to followers that are nearly current does not read bolt.
	// An entry carries up to 256 KiB of messages (the committer's limit),
	// and the cache holds them after their messages are consumed, so it
	// is small: 64 entries are up to 16 MiB per group, which counts
	// against the memory watermark.
	logCacheSize = 64
	// boltOpenTimeout bounds waiting for bolt's file lock: a second process
	// on the same data dir fails fast instead of hanging.
	boltOpenTimeout = time.Second
)

// Dir returns the directory of group name under the node's dataDir.
func Dir(dataDir, name string) string {
	return filepath.Join(dataDir, groupsDirName, name)
}

// groupStores are the persistent stores of one group. bolt serves as both
// the raft.LogStore (behind the cache) and the raft.StableStore.
type groupStores struct {
	bolt     *raftboltdb.BoltStore
	logs     raft.LogStore
	snaps    raft.SnapshotStore
	unsynced *unsyncedLogStore // nil unless Options.UnsafeUnsyncedLog
}

// openStores opens (creating if needed) the stores of a group in dir.
// noSync turns off bolt's fsync; unsynced puts an unsyncedLogStore in front
// of the log. Both are for tests only, because a power loss then loses
// entries Raft has acknowledged.
func openStores(dir string, noSync, unsynced bool, logger hclog.Logger) (*groupStores, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create group dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, raftDBFileName),
		BoltOptions: &bbolt.Options{
			// Do not write the freelist on every commit; bbolt rebuilds
			// it on open instead. Without this every write slows down
			// after a burst grows the file (STYLE §11.11).
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
			Timeout:        boltOpenTimeout,
		},
		NoSync:                  noSync,
		MsgpackUseNewTimeFormat: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", raftDBFileName, err)
	}
	stores := &groupStores{bolt: bolt}
	var under raft.LogStore = bolt
	if unsynced {
		stores.unsynced = newUnsyncedLogStore(bolt, logger.Named("unsynced"))
		under = stores.unsynced
	}
	if stores.logs, err = raft.NewLogCache(logCacheSize, under); err != nil {
		stores.close()
		return nil, fmt.Errorf("log cache: %w", err)
	}
	if stores.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, logger.Named("snapshot")); err != nil {
		stores.close()
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	return stores, nil
}

// stable returns the StableStore (term, vote) of the group.
func (s *groupStores) stable() raft.StableStore { return s.bolt }

// hasState reports whether the group has a log, a vote or a snapshot, i.e.
// whether it was bootstrapped or joined before.
func (s *groupStores) hasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.bolt, s.snaps)
}

// close closes bolt. The snapshot store holds no open files between
// operations, and Raft must be shut down first.
func (s *groupStores) close() error {
	if s.unsynced != nil {
		if err := s.unsynced.Close(); err != nil {
			s.bolt.Close()
			return fmt.Errorf("write back unsynced log: %w", err)
		}
	}
	if err := s.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", raftDBFileName, err)
	}
	return nil
}
