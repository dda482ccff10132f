package raftgroup

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Flush interval of the unsynced log: each pause is drawn from
// [unsyncedFlushMin, unsyncedFlushMax), like a kernel writing back dirty
// pages every so often rather than on every write.
const (
	unsyncedFlushMin = 100 * time.Millisecond
	unsyncedFlushMax = 300 * time.Millisecond
)

// unsyncedLogStore is a raft.LogStore for fault-injection tests only
// (Options.UnsafeUnsyncedLog). It models an operating system's page cache in
// front of a disk that is never fsynced on the write path: StoreLog and
// StoreLogs return at once, keeping the entries in memory, where GetLog,
// FirstIndex and LastIndex see them, so Raft behaves as usual; a background
// goroutine writes them to the underlying store, in index order, every
// 100–300 ms. A kill -9 of the process loses the entries not yet written,
// exactly as a power loss loses dirty pages that were never fsynced: Raft
// has by then told the leader (and the leader the client) that they were
// stored. That is what the chaos harness uses to show that Warren's
// fsync-before-confirm is what keeps confirmed messages.
//
// DeleteRange (compaction after a snapshot, truncation of a conflicting
// tail) drops the pending entries in its range and deletes from the
// underlying store while no write-back is running, so an entry written back
// can never resurrect a deleted one. Close writes back whatever is pending.
//
// All methods are safe for concurrent use.
type unsyncedLogStore struct {
	store  raft.LogStore
	logger hclog.Logger

	// flushMu serialises write-backs with DeleteRange on store.
	flushMu sync.Mutex
	// mu guards pending and closed.
	mu sync.Mutex
	// pending are the entries not yet written to store, sorted by index
	// (strictly increasing).
	pending []*raft.Log
	closed  bool

	// Write-backs are every [flushMin, flushMax).
	flushMin, flushMax time.Duration

	stop chan struct{}
	done chan struct{}
}

// newUnsyncedLogStore wraps store and starts the write-back goroutine; Close
// stops it.
func newUnsyncedLogStore(store raft.LogStore, logger hclog.Logger) *unsyncedLogStore {
	return newUnsyncedLogStoreEvery(store, logger, unsyncedFlushMin, unsyncedFlushMax)
}

// newUnsyncedLogStoreEvery is newUnsyncedLogStore with write-backs every
// [minPause, maxPause); maxPause > minPause > 0.
func newUnsyncedLogStoreEvery(store raft.LogStore, logger hclog.Logger, minPause, maxPause time.Duration) *unsyncedLogStore {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &unsyncedLogStore{
		store: store, logger: logger, flushMin: minPause, flushMax: maxPause,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.writeBack()
	return s
}

// writeBack flushes the pending entries after every pause until stop.
func (s *unsyncedLogStore) writeBack() {
	defer close(s.done)
	for {
		pause := s.flushMin + rand.N(s.flushMax-s.flushMin)
		t := time.NewTimer(pause)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.flush(); err != nil {
			// The entries stay pending and the next round tries again.
			s.logger.Error("unsynced log: write-back failed", "error", err)
		}
	}
}

// flush writes the entries pending now to store, in index order, and then
// forgets them, unless they were replaced meanwhile.
func (s *unsyncedLogStore) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	batch := slices.Clone(s.pending)
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := s.store.StoreLogs(batch); err != nil {
		return err
	}
	// Entries stay readable from pending until they are in store. Only
	// DeleteRange removes pending entries behind our back, and it waits for
	// flushMu; a StoreLog may have replaced one (same index, new pointer),
	// and that one is written next round.
	s.mu.Lock()
	written := make(map[*raft.Log]bool, len(batch))
	for _, l := range batch {
		written[l] = true
	}
	s.pending = slices.DeleteFunc(s.pending, func(l *raft.Log) bool { return written[l] })
	s.mu.Unlock()
	return nil
}

// IsMonotonic passes on the underlying store's raft.MonotonicLogStore, so
// raft treats the log as it would without this wrapper.
func (s *unsyncedLogStore) IsMonotonic() bool { return isMonotonic(s.store) }

// FirstIndex implements raft.LogStore.
func (s *unsyncedLogStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, err := s.store.FirstIndex()
	if err != nil {
		return 0, err
	}
	if len(s.pending) > 0 && (first == 0 || s.pending[0].Index < first) {
		first = s.pending[0].Index
	}
	return first, nil
}

// LastIndex implements raft.LogStore.
func (s *unsyncedLogStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, err := s.store.LastIndex()
	if err != nil {
		return 0, err
	}
	if n := len(s.pending); n > 0 && s.pending[n-1].Index > last {
		last = s.pending[n-1].Index
	}
	return last, nil
}

// GetLog implements raft.LogStore.
func (s *unsyncedLogStore) GetLog(index uint64, out *raft.Log) error {
	s.mu.Lock()
	if i, ok := s.find(index); ok {
		*out = *s.pending[i]
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.store.GetLog(index, out)
}

// find returns the position of index in pending, or where it would go.
// Callers hold mu.
func (s *unsyncedLogStore) find(index uint64) (int, bool) {
	return slices.BinarySearchFunc(s.pending, index, func(l *raft.Log, idx uint64) int {
		switch {
		case l.Index < idx:
			return -1
		case l.Index > idx:
			return 1
		}
		return 0
	})
}

// StoreLog implements raft.LogStore.
func (s *unsyncedLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs implements raft.LogStore: the entries are kept in memory only,
// until the next write-back. Raft does not modify an entry after storing
// it, so the pointers are kept, as raft.LogCache does.
func (s *unsyncedLogStore) StoreLogs(logs []*raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("unsynced log: %w", ErrGroupClosed)
	}
	for _, l := range logs {
		if n := len(s.pending); n == 0 || s.pending[n-1].Index < l.Index {
			s.pending = append(s.pending, l)
			continue
		}
		if i, ok := s.find(l.Index); ok {
			s.pending[i] = l
		} else {
			s.pending = slices.Insert(s.pending, i, l)
		}
	}
	return nil
}

// DeleteRange implements raft.LogStore; the range is inclusive.
func (s *unsyncedLogStore) DeleteRange(min, max uint64) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	s.pending = slices.DeleteFunc(s.pending, func(l *raft.Log) bool { return l.Index >= min && l.Index <= max })
	s.mu.Unlock()
	return s.store.DeleteRange(min, max)
}

// Close stops the write-back goroutine and writes back what is pending: a
// clean shutdown loses nothing. It does not close the underlying store.
func (s *unsyncedLogStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return s.flush()
}

// abandon stops the write-back goroutine without writing back: the pending
// entries are gone, as after a power loss. Tests only.
func (s *unsyncedLogStore) abandon() {
	s.mu.Lock()
	s.closed = true
	s.pending = nil
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}
