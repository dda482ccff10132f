package raftgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/warrenmq/warren/cluster/raftgroup/segmentlog"
)

// On-disk layout of a group, under <DataDir>/groups/<name>/ (STYLE §4).
const (
	groupsDirName  = "groups"
	raftDBFileName = "raft.db"
	// segmentDirName holds the segment log store of a group (package
	// segmentlog): its segment files, first-index file and lock. A
	// directory of its own, because segmentlog owns every file in it.
	segmentDirName = "segments"
	// stableFileName is the segment store's stable store (term and vote):
	// a small bolt file beside segments/, written and fsynced only when
	// the term or the vote changes.
	stableFileName = "stable.db"
	// oldWALDirName is where hashicorp/raft-wal, the experimental
	// --log-store wal of earlier versions, kept a group's log. This
	// version does not read it; a directory holding one is refused.
	oldWALDirName = "wal"
	// snapshotsRetained is how many snapshots the FileSnapshotStore keeps:
	// the newest, plus one to fall back on if the newest is corrupt.
	snapshotsRetained = 2
	// logCacheSize is how many recent entries are kept in memory, so
	// replication to followers that are nearly current does not read the
	// disk. An entry carries up to 256 KiB of messages (the committer's
	// limit), and the cache holds them after their messages are consumed,
	// so it is small: 64 entries are up to 16 MiB per group, which counts
	// against the memory watermark.
	logCacheSize = 64
	// boltOpenTimeout bounds waiting for bolt's file lock: a second process
	// on the same data dir fails fast instead of hanging.
	boltOpenTimeout = time.Second
)

// LogStore names the store that holds a group's Raft log.
type LogStore string

const (
	// LogStoreAuto opens whichever store the group's directory holds, and
	// DefaultLogStore in a new one.
	LogStoreAuto LogStore = ""
	// LogStoreBolt is raft-boltdb v2 (raft.db), the log and the stable
	// store in one bolt file: a bolt transaction, about two fdatasyncs,
	// per StoreLogs.
	LogStoreBolt LogStore = "bolt"
	// LogStoreSegment is Warren's own segmentlog (segments/): append-only
	// segment files, one write and one fdatasync per StoreLogs, with a
	// small bolt file (stable.db) for the term and the vote.
	LogStoreSegment LogStore = "segment"
)

// DefaultLogStore is the store of a group created with LogStoreAuto:
// segment, which at light load commits in about a third of bolt's time
// (README "Benchmark") and passed TestChaosPowerLoss, every node killed at
// once again and again, with no confirmed message lost.
const DefaultLogStore = LogStoreSegment

// ParseLogStore parses a log store name: "bolt", "segment", or "" or
// "auto" for LogStoreAuto. "wal" (raft-wal, removed) is refused with what
// to use instead.
func ParseLogStore(s string) (LogStore, error) {
	switch s {
	case "", "auto":
		return LogStoreAuto, nil
	case string(LogStoreBolt), string(LogStoreSegment):
		return LogStore(s), nil
	case oldWALDirName:
		return "", fmt.Errorf("log store %q (hashicorp/raft-wal) was experimental and is removed, since a node on it could fail to restart after a power loss: use segment (or auto)", s)
	}
	return "", fmt.Errorf("log store %q: want auto, bolt or segment", s)
}

// Dir returns the directory of group name under the node's dataDir.
func Dir(dataDir, name string) string {
	return filepath.Join(dataDir, groupsDirName, name)
}

// groupStores are the persistent stores of one group: the log (behind the
// cache), the stable store and the snapshots.
type groupStores struct {
	kind     LogStore
	logs     raft.LogStore
	stableSt raft.StableStore
	snaps    raft.SnapshotStore
	unsynced *unsyncedLogStore // nil unless Options.UnsafeUnsyncedLog
	closers  []io.Closer       // in closing order
}

// storeOnDisk reports which log store dir holds, or LogStoreAuto when it
// holds none. A directory holding both is refused: it was tampered with.
// So is one holding raft-wal's wal/, which this version cannot read.
func storeOnDisk(dir string) (LogStore, error) {
	bolt, err := exists(filepath.Join(dir, raftDBFileName))
	if err != nil {
		return "", err
	}
	segment, err := exists(filepath.Join(dir, segmentDirName))
	if err != nil {
		return "", err
	}
	oldWAL, err := exists(filepath.Join(dir, oldWALDirName))
	if err != nil {
		return "", err
	}
	switch {
	case oldWAL:
		return "", fmt.Errorf("%w: %s holds a %s/ directory, the log of hashicorp/raft-wal (the experimental --log-store wal of earlier versions), which this version does not read: "+
			"start the node on an empty data directory, and it catches up from the leader (or, for a single node, run the earlier version)", ErrLogStoreMismatch, dir, oldWALDirName)
	case bolt && segment:
		return "", fmt.Errorf("%s holds both %s and %s/: remove the one that is not in use", dir, raftDBFileName, segmentDirName)
	case bolt:
		return LogStoreBolt, nil
	case segment:
		return LogStoreSegment, nil
	}
	return LogStoreAuto, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// chooseLogStore returns the store to open in dir for the wanted kind. A
// directory written by one store is never opened with the other: the other
// would see an empty log and the node would rejoin as a blank member.
// noSync (tests only) makes a new directory's auto choice bolt, the store
// that can skip fsyncs.
func chooseLogStore(dir string, want LogStore, noSync bool) (LogStore, error) {
	have, err := storeOnDisk(dir)
	if err != nil {
		return "", err
	}
	switch {
	case have == LogStoreAuto && want == LogStoreAuto && noSync:
		return LogStoreBolt, nil
	case have == LogStoreAuto && want == LogStoreAuto:
		return DefaultLogStore, nil
	case have == LogStoreAuto:
		return want, nil
	case want == LogStoreAuto || want == have:
		return have, nil
	}
	return "", fmt.Errorf("%w: %s holds a %s log store, the node was told to use %s: start it with --log-store %s (or auto)",
		ErrLogStoreMismatch, dir, have, want, have)
}

// openStores opens (creating if needed) the stores of a group in dir.
// noSync turns off bolt's fsync (the bolt store only); unsynced puts an
// unsyncedLogStore in front of the log. Both are for tests only, because a
// power loss then loses entries Raft has acknowledged.
func openStores(dir string, want LogStore, noSync, unsynced bool, logger hclog.Logger) (_ *groupStores, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create group dir: %w", err)
	}
	kind, err := chooseLogStore(dir, want, noSync)
	if err != nil {
		return nil, err
	}
	stores := &groupStores{kind: kind}
	defer func() {
		if err != nil {
			_ = stores.close()
		}
	}()
	var under raft.LogStore
	switch kind {
	case LogStoreSegment:
		if noSync {
			return nil, errors.New("the segment log store always syncs: NoSync needs the bolt store")
		}
		if under, err = openSegmentStore(dir, logger, stores); err != nil {
			return nil, err
		}
	default:
		bolt, err := openBolt(filepath.Join(dir, raftDBFileName), noSync)
		if err != nil {
			return nil, err
		}
		stores.closers = append(stores.closers, bolt)
		under, stores.stableSt = bolt, bolt
	}
	if unsynced {
		stores.unsynced = newUnsyncedLogStore(under, logger.Named("unsynced"))
		// Written back before the store under it closes.
		stores.closers = append([]io.Closer{stores.unsynced}, stores.closers...)
		under = stores.unsynced
	}
	if stores.logs, err = raft.NewLogCache(logCacheSize, under); err != nil {
		return nil, fmt.Errorf("log cache: %w", err)
	}
	if stores.snaps, err = raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, logger.Named("snapshot")); err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	return stores, nil
}

// openBolt opens (creating) a raft-boltdb file at path; noSync (tests
// only) turns its fsyncs off.
func openBolt(path string, noSync bool) (*raftboltdb.BoltStore, error) {
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: path,
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
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return bolt, nil
}

// openSegmentStore opens the segment log of the group in dir and its
// stable store, sets stores.stableSt, adds both to stores.closers (log
// first) and returns the log, timed.
func openSegmentStore(dir string, logger hclog.Logger, stores *groupStores) (raft.LogStore, error) {
	// The stable store first: bolt's lock (with its timeout) makes a
	// second process on the same data dir fail before it reads the log.
	stable, err := openBolt(filepath.Join(dir, stableFileName), false)
	if err != nil {
		return nil, err
	}
	stores.closers = append(stores.closers, stable)
	stores.stableSt = stable
	path := filepath.Join(dir, segmentDirName)
	log, err := segmentlog.Open(path, segmentlog.Options{Logger: logger.Named("segmentlog")})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	stores.closers = append([]io.Closer{log}, stores.closers...)
	return timedLogStore{log}, nil
}

// stable returns the StableStore (term, vote) of the group.
func (s *groupStores) stable() raft.StableStore { return s.stableSt }

// hasState reports whether the group has a log, a vote or a snapshot, i.e.
// whether it was bootstrapped or joined before.
func (s *groupStores) hasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.stableSt, s.snaps)
}

// close writes back the unsynced log, if any, and closes the stores. The
// snapshot store holds no open files between operations, and Raft must be
// shut down first.
func (s *groupStores) close() error {
	var errs []error
	for _, c := range s.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s log store: %w", s.kind, err)
	}
	return nil
}
