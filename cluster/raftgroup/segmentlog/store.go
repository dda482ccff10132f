package segmentlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/internal/fsync"
)

// DefaultSegmentBytes is the size at which a segment is sealed and the
// next one started: 32 of Warren's largest entries (256 KiB), small enough
// that a head truncation frees disk soon after a snapshot.
const DefaultSegmentBytes = 8 << 20

// maxSegmentBytes bounds Options.SegmentBytes so that record offsets fit
// in 32 bits: a record starts below the segment size and is at most
// MaxEntryBytes long.
const maxSegmentBytes = 1 << 30

// maxKeptBuffer is the largest encoding buffer a Store keeps between
// StoreLogs calls: enough for the usual batch (64 entries of a few KiB)
// without holding megabytes per group after a burst of large entries.
const maxKeptBuffer = 1 << 20

// Options tune a Store; the zero value is valid.
type Options struct {
	// SegmentBytes is the size past which a segment is sealed: the next
	// entry that would make it larger goes to a new segment (an entry
	// larger than a segment gets one of its own). Default
	// DefaultSegmentBytes; at most 1 GiB.
	SegmentBytes int64
	// Logger gets what Open repairs (a torn tail cut off, leftovers of an
	// interrupted deletion removed). Default: no logging.
	Logger hclog.Logger
}

// Store is a raft.LogStore on append-only segment files in one directory.
// Each StoreLogs writes its entries with one write per segment touched and
// returns after one fdatasync (two when it fills a segment); DeleteRange
// removes a head or a tail. See DESIGN.md for the layout and the recovery
// rules.
//
// All methods are safe for concurrent use: GetLog, FirstIndex and
// LastIndex run alongside a StoreLogs (they see the entries of a call once
// it has fsynced them); StoreLogs, DeleteRange and Close are serialised.
type Store struct {
	dir      string
	segBytes int64
	logger   hclog.Logger
	lock     *os.File

	// wmu serialises the writers. Under it (and not mu): buf, failed,
	// diskFirst.
	wmu sync.Mutex
	buf []byte
	// failed is set by an I/O error in a write: what reached the disk is
	// unknown (and after a failed fsync Linux may have dropped the dirty
	// pages), so every later write fails until the store is reopened and
	// recovery reads what is really there.
	failed error
	// diskFirst is the first index the first-index file holds.
	diskFirst uint64

	// mu guards what readers see: segs, first, last, closed, and each
	// segment's offsets and size.
	mu sync.RWMutex
	// segs are the open segments by base index, contiguous: each one's
	// base is the one before's base plus its entries. All but the last
	// hold at least one entry; a store without entries has none.
	segs        []*segment
	first, last uint64 // 0, 0 when the log is empty
	closed      bool
}

// segment is one open segment file.
type segment struct {
	base uint64
	path string
	f    *os.File
	// offsets[i] is where the record of entry base+i starts: 4 bytes of
	// memory per entry. It ends at offsets[i+1], or at size for the last.
	offsets []uint32
	// size is where the last record ends; the file is no longer.
	size int64
}

// end returns the offset where entry i of the segment ends.
func (s *segment) end(i int) int64 {
	if i+1 < len(s.offsets) {
		return int64(s.offsets[i+1])
	}
	return s.size
}

// Open opens the store in dir, creating the directory if needed, and
// recovers it: a torn last write is cut off, any other damage is an error
// wrapping ErrCorrupt that names the file and offset. The directory is
// locked until Close.
func Open(dir string, o Options) (_ *Store, err error) {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes < segmentHeaderSize+frameHeaderSize+payloadFixed || o.SegmentBytes > maxSegmentBytes {
		return nil, fmt.Errorf("segmentlog: SegmentBytes %d out of range", o.SegmentBytes)
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, segBytes: o.SegmentBytes, logger: o.Logger}
	if s.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

// IsMonotonic implements raft.MonotonicLogStore: the store holds no gaps,
// so after installing a snapshot raft deletes the whole log
// (removeOldLogs) instead of leaving a gap below the entries that follow
// the snapshot.
func (s *Store) IsMonotonic() bool { return true }

// FirstIndex implements raft.LogStore: the first entry's index, 0 when the
// log is empty.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.first, nil
}

// LastIndex implements raft.LogStore: the last entry's index, 0 when the
// log is empty.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.last, nil
}

// GetLog implements raft.LogStore: it reads entry index into out
// (raft.ErrLogNotFound outside [FirstIndex, LastIndex]). out's Data and
// Extensions are new slices the caller owns. The record's CRC is checked
// again, so damage done to the disk since Open is an error, not bad data.
func (s *Store) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.last == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	// The last segment whose base is at or below index holds it.
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].base > index }) - 1
	seg := s.segs[k]
	i := int(index - seg.base)
	off := int64(seg.offsets[i])
	b := make([]byte, seg.end(i)-off)
	if _, err := seg.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("segmentlog: read entry %d from %s at offset %d: %w", index, seg.path, off, err)
	}
	r, ok := parseRecord(b)
	if !ok || r.size != len(b) || r.index != index {
		return fmt.Errorf("%w: %s: entry %d at offset %d fails its checks", ErrCorrupt, seg.path, index, off)
	}
	decodePayload(b[frameHeaderSize:], out)
	return nil
}

// StoreLog implements raft.LogStore: StoreLogs of one entry.
func (s *Store) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore. The entries must have consecutive
// indexes following LastIndex (ErrNotContiguous otherwise) — except that a
// first index past LastIndex+1 starts the log afresh there, deleting every
// entry before it (see startAt). It returns once the entries are on disk:
// one write and one fdatasync, plus a write, an fdatasync and a new file
// for each segment the batch fills.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	first := logs[0].Index
	for i, l := range logs {
		if l.Index != first+uint64(i) || l.Index == 0 {
			return fmt.Errorf("%w: entry %d of the batch has index %d, the first %d", ErrNotContiguous, i, l.Index, first)
		}
		if recordSize(l)-frameHeaderSize > MaxEntryBytes {
			return fmt.Errorf("segmentlog: entry %d is %d bytes, more than %d", l.Index, recordSize(l), MaxEntryBytes)
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	s.mu.RLock()
	last := s.last
	s.mu.RUnlock()
	switch {
	case last != 0 && first <= last:
		return fmt.Errorf("%w: appending %d after %d", ErrNotContiguous, first, last)
	case last == 0 || first > last+1:
		if err := s.startAt(first); err != nil {
			return s.fail(err)
		}
	}
	return s.fail(s.append(logs))
}

// append writes logs, which continue the log, to the last segment and the
// new ones it needs; wmu is held.
func (s *Store) append(logs []*raft.Log) error {
	s.mu.RLock()
	var seg *segment
	if len(s.segs) > 0 {
		seg = s.segs[len(s.segs)-1]
	}
	s.mu.RUnlock()
	buf := s.buf[:0]
	var offsets []uint32
	for i, l := range logs {
		n := recordSize(l)
		// Seal the segment when this entry would take it past the size,
		// unless it holds nothing yet (an entry larger than a segment
		// gets one of its own).
		if seg == nil || (seg.size+int64(len(buf)) > segmentHeaderSize && seg.size+int64(len(buf))+int64(n) > s.segBytes) {
			if seg != nil {
				// The sealed segment is fsynced before the next one
				// exists, so only the last segment can have a torn tail.
				if err := s.flush(seg, buf, offsets); err != nil {
					return err
				}
				buf, offsets = buf[:0], offsets[:0]
			}
			var err error
			if seg, err = s.newSegment(l.Index); err != nil {
				return err
			}
		}
		offsets = append(offsets, uint32(seg.size+int64(len(buf))))
		buf = appendRecord(buf, l, uint32(i))
	}
	err := s.flush(seg, buf, offsets)
	if cap(buf) <= maxKeptBuffer {
		s.buf = buf // reused by the next call, unless a large batch grew it
	}
	return err
}

// flush writes buf (records starting at offsets) at the end of seg,
// fdatasyncs it, and only then lets readers see the entries.
func (s *Store) flush(seg *segment, buf []byte, offsets []uint32) error {
	if len(buf) == 0 {
		return nil
	}
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		return fmt.Errorf("write %s: %w", seg.path, err)
	}
	if err := fsync.Data(seg.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", seg.path, err)
	}
	s.mu.Lock()
	seg.offsets = append(seg.offsets, offsets...)
	seg.size += int64(len(buf))
	s.last = seg.base + uint64(len(seg.offsets)) - 1
	if s.first == 0 {
		s.first = s.segs[0].base
	}
	s.mu.Unlock()
	return nil
}

// newSegment creates the segment that starts with entry base and makes it
// the last one; wmu is held.
func (s *Store) newSegment(base uint64) (*segment, error) {
	name := segmentName(base)
	f, err := createFile(s.dir, name, segmentHeader(base))
	if err != nil {
		return nil, err
	}
	seg := &segment{base: base, path: filepath.Join(s.dir, name), f: f, size: segmentHeaderSize}
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	return seg, nil
}

// startAt prepares an append of index into a log that is empty, or whose
// last entry is below index-1. Raft's StoreLogs leaves such a gap only
// after a snapshot covering index-1 was installed and before the log was
// cleared (a crash between the two; appendEntries accepts entries after a
// gap only when their predecessor is the snapshot's last entry), so
// every entry before index is one raft no longer needs: the log is
// cleared first. The first-index file is the commit point — once it says
// index, the old segments are garbage that Open removes if the crash
// comes before this does. wmu is held.
func (s *Store) startAt(index uint64) error {
	s.mu.RLock()
	empty := s.last == 0
	s.mu.RUnlock()
	if !empty {
		s.logger.Warn("entries after a gap: clearing the log before them", "index", index)
		if err := s.setDiskFirst(index); err != nil {
			return err
		}
	}
	if err := s.removeSegments(0); err != nil {
		return err
	}
	if s.diskFirst > index {
		// Never seen from raft (indexes only grow), but entries below the
		// recorded first index would be invisible after a reopen.
		return s.setDiskFirst(index)
	}
	return nil
}

// DeleteRange implements raft.LogStore for the two ranges raft deletes: a
// head (compaction after a snapshot: min at or below FirstIndex) and a
// tail (a follower's entries that conflict with the leader's: max at or
// above LastIndex); both at once clear the log. A middle range is
// ErrMiddleRange. The parts of the range outside the log are ignored. It
// returns once the deletion is durable.
func (s *Store) DeleteRange(min, max uint64) error {
	s.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			s.wmu.Unlock()
		}
	}()
	if err := s.writable(); err != nil {
		return err
	}
	s.mu.RLock()
	first, last := s.first, s.last
	s.mu.RUnlock()
	switch {
	case last == 0 || min > max || max < first || min > last:
		return nil
	case min <= first && max >= last:
		// The first-index file commits the deletion; the files follow.
		if err := s.setDiskFirst(last + 1); err != nil {
			return s.fail(err)
		}
		return s.fail(s.removeSegments(0))
	case min <= first:
		drop, err := s.deleteHead(max + 1)
		if err != nil {
			return s.fail(err)
		}
		// The deletion is durable (the first-index file); removing the
		// files can take the file system milliseconds: not under wmu,
		// which every append (StoreLogs, so every commit) waits for.
		locked = false
		s.wmu.Unlock()
		s.removeDropped(drop)
		return nil
	case max >= last:
		return s.fail(s.deleteTail(min))
	}
	return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrMiddleRange, min, max, first, last)
}

// deleteHead makes first the log's first index, durably in the first-index
// file, and takes the segments wholly below it out of the log; it returns
// them for removeDropped. Entries below first in the segment that holds it
// stay on disk, invisible, until that segment goes too. wmu is held.
func (s *Store) deleteHead(first uint64) ([]*segment, error) {
	if err := s.setDiskFirst(first); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.first = first
	var drop []*segment
	for len(s.segs) > 1 && s.segs[1].base <= first {
		drop = append(drop, s.segs[0])
		s.segs = s.segs[1:]
	}
	s.mu.Unlock()
	return drop, nil
}

// removeDropped closes and removes the files of segments deleteHead took
// out of the log. A failure is logged, not returned: the first-index file
// already deleted their entries, and Open removes segments below it.
func (s *Store) removeDropped(drop []*segment) {
	for _, seg := range drop {
		_ = seg.f.Close()
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("removing a compacted segment failed; the next open removes it", "file", seg.path, "error", err)
		}
	}
	if len(drop) > 0 {
		// Not needed for correctness, but it frees the disk for sure.
		if err := fsync.Dir(s.dir); err != nil {
			s.logger.Warn("syncing the log directory after a compaction failed", "error", err)
		}
	}
}

// deleteTail deletes the entries from min on (min > FirstIndex): the
// segments after the one holding min are removed newest first, each
// removal made durable before the next, so a crash leaves the log a prefix
// of what it was and never a gap; then that segment is truncated at min's
// record and fsynced. A crash part way leaves some of the deleted entries:
// raft deletes a tail only where it conflicts with the leader's log, so
// those entries were never committed, and the leader deletes them again.
// wmu is held.
func (s *Store) deleteTail(min uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].base > min }) - 1
	for len(s.segs) > k+1 {
		seg := s.segs[len(s.segs)-1]
		s.segs = s.segs[:len(s.segs)-1]
		_ = seg.f.Close()
		if err := os.Remove(seg.path); err != nil {
			return err
		}
		if err := fsync.Dir(s.dir); err != nil {
			return err
		}
		s.last = seg.base - 1
	}
	seg := s.segs[k]
	i := int(min - seg.base)
	off := int64(seg.offsets[i])
	if err := seg.f.Truncate(off); err != nil {
		return fmt.Errorf("truncate %s: %w", seg.path, err)
	}
	// fsync, not fdatasync: the new size is all that changed.
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", seg.path, err)
	}
	seg.offsets = seg.offsets[:i]
	seg.size = off
	s.last = min - 1
	return nil
}

// removeSegments closes and removes the segments from k on, newest first,
// and fsyncs the directory; the log is empty afterwards when k is 0. wmu
// is held.
func (s *Store) removeSegments(k int) error {
	s.mu.Lock()
	drop := s.segs[k:]
	s.segs = s.segs[:k]
	if k == 0 {
		s.first, s.last = 0, 0
	}
	s.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	for i := len(drop) - 1; i >= 0; i-- {
		_ = drop[i].f.Close()
		if err := os.Remove(drop[i].path); err != nil {
			return err
		}
	}
	return fsync.Dir(s.dir)
}

// setDiskFirst durably records first in the first-index file. wmu is held.
func (s *Store) setDiskFirst(first uint64) error {
	if err := writeFirstIndex(s.dir, first); err != nil {
		return err
	}
	s.diskFirst = first
	return nil
}

// writable returns why the store takes no writes, if it does not. wmu is
// held.
func (s *Store) writable() error {
	if s.failed != nil {
		return s.failed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// fail makes a write's I/O error sticky (see failed) and returns it.
func (s *Store) fail(err error) error {
	if err != nil && s.failed == nil {
		s.failed = fmt.Errorf("segmentlog: %s: an earlier write failed, reopen the store: %w", s.dir, err)
		s.logger.Error("write failed; the store takes no more writes until reopened", "error", err)
		return s.failed
	}
	return err
}

// Close closes the store's files and releases the directory. The store
// must not be used afterwards (methods return ErrClosed).
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

// closeFiles closes every open file, the lock last.
func (s *Store) closeFiles() error {
	var errs []error
	for _, seg := range s.segs {
		errs = append(errs, seg.f.Close())
	}
	s.segs = nil
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}
