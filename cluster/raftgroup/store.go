package raftgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// On-disk layout of a group, under <DataDir>/groups/<name>/ (STYLE §4).
const (
	groupsDirName  = "groups"
	raftDBFileName = "raft.db"
	// walDirName holds the raft-wal log store of a group: its segment
	// files and wal-meta.db (a small bolt file for the term, the vote and
	// the segment list). A subdirectory, because raft-wal deletes the
	// files of its directory that it does not list.
	walDirName = "wal"
	// walLockName is the lock file in walDirName; see lockDir.
	walLockName = "LOCK"
	// walSegmentBytes is the size of a raft-wal segment file, allocated
	// in full when the segment is created. raft-wal's default, 64 MiB,
	// would take 320 MiB of disk for a node's five groups before a single
	// message; 8 MiB is still 32 of the largest entries (256 KiB).
	walSegmentBytes = 8 << 20
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

// LogStore names the store that holds a group's Raft log.
type LogStore string

const (
	// LogStoreAuto opens whichever store the group's directory holds, and
	// DefaultLogStore in a new one.
	LogStoreAuto LogStore = ""
	// LogStoreBolt is raft-boltdb v2 (raft.db), the log and the stable
	// store in one bolt file: a bolt transaction, two fdatasyncs, per
	// StoreLogs.
	LogStoreBolt LogStore = "bolt"
	// LogStoreWAL is hashicorp/raft-wal (wal/): append-only segment files,
	// one fdatasync per StoreLogs, with its own small bolt file for the
	// stable store (term and vote).
	LogStoreWAL LogStore = "wal"
)

// DefaultLogStore is the store of a group created with LogStoreAuto. It
// stays bolt: raft-wal v0.4.0 (the only version the module proxy serves)
// is faster — one fsync per write instead of two, a quarter of bolt's
// commit time at light load (README "Benchmark") — but with it as the
// default TestChaosPowerLoss failed: after every node was killed at once,
// a node could not start again ("sealed segment has no index block" in
// NewRaft, hashicorp/raft-wal#31: a log-tail truncation, then a restart).
const DefaultLogStore = LogStoreBolt

// ParseLogStore parses a log store name: "bolt", "wal", or "" or "auto"
// for LogStoreAuto.
func ParseLogStore(s string) (LogStore, error) {
	switch s {
	case "", "auto":
		return LogStoreAuto, nil
	case string(LogStoreBolt), string(LogStoreWAL):
		return LogStore(s), nil
	}
	return "", fmt.Errorf("log store %q: want auto, bolt or wal", s)
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
func storeOnDisk(dir string) (LogStore, error) {
	bolt, err := exists(filepath.Join(dir, raftDBFileName))
	if err != nil {
		return "", err
	}
	wal, err := exists(filepath.Join(dir, walDirName))
	if err != nil {
		return "", err
	}
	switch {
	case bolt && wal:
		return "", fmt.Errorf("%s holds both %s and %s/: remove the one that is not in use", dir, raftDBFileName, walDirName)
	case bolt:
		return LogStoreBolt, nil
	case wal:
		return LogStoreWAL, nil
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
	case LogStoreWAL:
		if noSync {
			return nil, errors.New("the wal log store always syncs: NoSync needs the bolt store")
		}
		wal, err := openWAL(filepath.Join(dir, walDirName), logger.Named("wal"), stores)
		if err != nil {
			return nil, err
		}
		under, stores.stableSt = walTimed{wal}, wal
	default:
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

// openWAL opens the raft-wal store in dir, creating it, and adds what must
// be closed to stores.
func openWAL(dir string, logger hclog.Logger, stores *groupStores) (*raftwal.WAL, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", walDirName, err)
	}
	lock, err := lockDir(filepath.Join(dir, walLockName))
	if err != nil {
		return nil, err
	}
	stores.closers = append(stores.closers, lock)
	// raft-wal v0.4.0's Close does not close the meta store it opened, so
	// wal-meta.db would stay open and locked: a group reopened in the same
	// process (a restart in tests) would wait on bolt's lock forever. Open
	// it here and close it after the WAL.
	meta := &metadb.BoltMetaDB{}
	stores.closers = append([]io.Closer{meta}, stores.closers...)
	wal, err := raftwal.Open(dir, raftwal.WithLogger(logger), raftwal.WithMetaStore(meta),
		raftwal.WithSegmentSize(walSegmentBytes))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", walDirName, err)
	}
	stores.closers = append([]io.Closer{wal}, stores.closers...)
	return wal, nil
}

// lockDir takes an exclusive flock on path, waiting at most
// boltOpenTimeout. raft-wal opens its wal-meta.db with bolt's default of
// waiting for the file lock forever, so without this a second process on
// the same data dir would hang instead of failing.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	deadline := time.Now().Add(boltOpenTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s (is another node using this data dir?): %w", path, err)
		}
		time.Sleep(50 * time.Millisecond) // paces the retry, bounded by deadline
	}
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
