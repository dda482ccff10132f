package bodystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/warrenmq/warren/internal/fsync"
)

// DefaultSegmentBytes is the size at which a segment file is closed and
// the next one begun. A segment is deleted once none of its bodies is
// referenced, so it is also the granule of reclaimed space.
const DefaultSegmentBytes = 64 << 20

// ErrNotFound: the store holds no body under that key.
var ErrNotFound = errors.New("body not in the body store")

// Options configure a Store.
type Options struct {
	// SegmentBytes: a segment takes records until it holds this many
	// bytes (a larger body goes alone into one). 0: DefaultSegmentBytes.
	SegmentBytes int64
}

// Store is the body store of one queue group: a directory of segment
// files. Put and Pin are called by the group's state machine in log
// order; Read, Sync, DeleteUnpinned and Compact may run concurrently with
// them and with each other (one Compact at a time).
type Store struct {
	dir     string
	segSize int64

	syncMu sync.Mutex // one Sync at a time

	mu     sync.RWMutex
	index  *keyIndex // key to record (index.go)
	segs   map[uint32]*segment
	active *segment
	dirty  map[uint32]*segment // written since the last Sync
	// pending holds the records of the active segment from its written
	// size on, not yet written to its file: Put appends there and writes
	// once WriteBuffer bytes gather (one write call for many bodies, not
	// one each), and Read serves a body still there from memory (a
	// consumer that keeps up reads the bodies just put). Sync, roll and
	// Close write it first. Losing it in a crash loses nothing: the store
	// is durable only up to its last Sync, and Raft applies the entries
	// after the snapshot again.
	pending []byte
	closed  bool
	// pins counts the Pins; touched is, per segment, the count at the
	// last Put of a key the store held in it (so a Put that stored
	// nothing). A segment touched since a Pin is not deleted for it: the
	// state may refer to that key though it did not at the Pin.
	pins    atomic.Uint64
	touched map[uint32]uint64
	// lastID is the highest segment id used, or named by the marker: a
	// new segment's id is above it, so a marker never vouches for a
	// segment written after it.
	lastID uint32
}

// loc is where a body is: its record's segment and offset, and the body's
// length.
type loc struct {
	seg, off, n uint32
}

// segment is one open segment file.
type segment struct {
	id      uint32
	f       *os.File
	size    int64 // its records' bytes, pending ones included
	written int64 // the bytes in its file (size less the store's pending, for the active segment)
}

// WriteBuffer is how many bytes of records Put gathers before it writes
// them (at most that much of a store's bodies is in memory only): about 28 ms of 1 KiB messages at 36,000 a second, at most this
// much memory per queue group.
const WriteBuffer = 1 << 20

// Stats describe what the store holds.
type Stats struct {
	Bodies   int   // bodies indexed
	Segments int   // segment files
	Bytes    int64 // bytes in segment files
}

// Open opens (creating if needed) the store in dir and recovers it: the
// prefix made durable by the last Sync is trusted, every record after it is
// checked and the files are cut at the first damaged one (see recover.go).
func Open(dir string, opt Options) (*Store, error) {
	if opt.SegmentBytes < 0 || opt.SegmentBytes > 1<<30 {
		return nil, fmt.Errorf("body store: segment size %d out of range (0 to 1 GiB)", opt.SegmentBytes)
	}
	if opt.SegmentBytes == 0 {
		opt.SegmentBytes = DefaultSegmentBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("body store: %w", err)
	}
	s := &Store{
		dir: dir, segSize: opt.SegmentBytes,
		index: newKeyIndex(), segs: make(map[uint32]*segment), dirty: make(map[uint32]*segment),
		touched: make(map[uint32]uint64),
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("body store %s: %w", dir, err)
	}
	return s, nil
}

func segmentName(id uint32) string { return fmt.Sprintf("seg-%010d.body", id) }

// Has reports whether the store holds a body under k.
func (s *Store) Has(k Key) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.index.get(k)
	return ok
}

// Put stores body under k, unless the store already holds k: a key names
// one body of a committed entry, so a second Put of it (an entry applied
// again after a restart, a snapshot restored over what the store kept) has
// the same body. Nothing is synced.
func (s *Store) Put(k Key, body []byte) error {
	if len(body) > MaxBodyBytes {
		return fmt.Errorf("body store: body of %d bytes, over the %d limit", len(body), MaxBodyBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return os.ErrClosed
	}
	if l, ok := s.index.get(k); ok {
		// The state refers to k again after a Pin that may have found it
		// unreferenced (an entry applied again after a restart, a
		// snapshot restored): its segment stays for that Pin.
		s.touched[l.seg] = s.pins.Load()
		return nil
	}
	if err := s.makeRoom(int64(headerSize + len(body))); err != nil {
		return err
	}
	n := len(s.pending)
	s.pending = appendRecord(s.pending, k, body)
	return s.appended(k, len(s.pending)-n)
}

// makeRoom makes the active segment one that takes a record of rec bytes:
// a new one when there is none or rec would overfill it (a larger record
// goes alone into a segment).
func (s *Store) makeRoom(rec int64) error {
	if s.active == nil || (s.active.size > 0 && s.active.size+rec > s.segSize) {
		return s.roll()
	}
	return nil
}

// appended indexes k at the record of rec bytes just appended to pending
// (at the active segment's end), and writes pending once WriteBuffer
// bytes gathered.
func (s *Store) appended(k Key, rec int) error {
	a := s.active
	s.index.set(k, loc{seg: a.id, off: uint32(a.size), n: uint32(rec - headerSize)})
	a.size += int64(rec)
	s.dirty[a.id] = a
	if len(s.pending) >= WriteBuffer {
		return s.writePending()
	}
	return nil
}

// writePending writes the pending records to the active segment's file.
// On failure they stay pending (and readable), and the next call tries
// again.
func (s *Store) writePending() error {
	a := s.active
	if a == nil || len(s.pending) == 0 {
		return nil
	}
	if _, err := a.f.WriteAt(s.pending, a.written); err != nil {
		return fmt.Errorf("body store: write %s: %w", a.f.Name(), err)
	}
	// Start the write-back now, without waiting for it: the Sync before a
	// snapshot then finds little left to flush, instead of tens of
	// megabytes whose write-back would hold up the Raft log's fsyncs (and
	// every confirm) for tens of milliseconds.
	fsync.Start(a.f, a.written, int64(len(s.pending)))
	a.written += int64(len(s.pending))
	if cap(s.pending) > 4*WriteBuffer {
		s.pending = nil // do not keep a huge body's buffer
	} else {
		s.pending = s.pending[:0]
	}
	return nil
}

// roll begins a new segment after the last one.
func (s *Store) roll() error {
	if err := s.writePending(); err != nil {
		return err
	}
	id := s.lastID + 1
	s.lastID = id
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(id)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("body store: %w", err)
	}
	seg := &segment{id: id, f: f}
	s.segs[id] = seg
	s.active = seg
	return nil
}

// Read returns the body stored under k (a new slice), checked against its
// record's CRC: damage is an error, never a wrong body.
func (s *Store) Read(k Key) ([]byte, error) {
	_, rec, err := s.readRecord(k)
	if err != nil {
		return nil, err
	}
	return rec[headerSize:], nil
}

// readRecord returns where k's record is and the record (header and body),
// checked against its CRC and key.
func (s *Store) readRecord(k Key) (loc, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.index.get(k)
	if !ok {
		return loc{}, nil, notFound(k)
	}
	rec := make([]byte, headerSize+int(l.n))
	if err := s.readAt(rec, l); err != nil {
		return loc{}, nil, err
	}
	if err := s.check(rec, k, l); err != nil {
		return loc{}, nil, err
	}
	return l, rec, nil
}

// readAt reads into b the bytes of l's segment from l.off on: from the
// file, or from pending for what is not written yet. s.mu must be held.
func (s *Store) readAt(b []byte, l loc) error {
	seg := s.segs[l.seg]
	off := int64(l.off)
	if s.pendingFrom(l) {
		copy(b, s.pending[off-seg.written:])
		return nil
	}
	if seg == s.active && off+int64(len(b)) > seg.written {
		return fmt.Errorf("body store: a read at %d of %d bytes in %s spans its unwritten tail", off, len(b), seg.f.Name())
	}
	if _, err := seg.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("body store: read %s at %d: %w", seg.f.Name(), l.off, err)
	}
	return nil
}

// notFound is the error for a key the store does not hold.
func notFound(k Key) error {
	return fmt.Errorf("%w: index %d position %d", ErrNotFound, k.Index, k.Position)
}

// check verifies that rec is the intact record of k that l locates.
func (s *Store) check(rec []byte, k Key, l loc) error {
	if h := parseHeader(rec); !valid(rec) || h.key != k || h.n != l.n {
		return fmt.Errorf("body store: record of index %d position %d in %s at %d is damaged", k.Index, k.Position, s.segs[l.seg].f.Name(), l.off)
	}
	return nil
}

// ReadMany returns the bodies stored under keys, in order, each checked as
// Read checks it. Records that lie one after another in a segment (a
// queue's messages delivered in the order they were published) are read
// with one pread: a consumer's batch of deliveries costs a read, not one a
// message. The bodies share that read's buffer.
func (s *Store) ReadMany(keys []Key) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	locs := make([]loc, len(keys))
	for i, k := range keys {
		l, ok := s.index.get(k)
		if !ok {
			return nil, notFound(k)
		}
		locs[i] = l
	}
	bodies := make([][]byte, len(keys))
	for i := 0; i < len(keys); {
		// A run: records i..j-1, each starting where the one before ends,
		// all in the file or all pending.
		first := locs[i]
		end := first.off + headerSize + first.n
		j := i + 1
		for ; j < len(keys); j++ {
			l := locs[j]
			if l.seg != first.seg || l.off != end || s.pendingFrom(l) != s.pendingFrom(first) {
				break
			}
			end += headerSize + l.n
		}
		buf := make([]byte, end-first.off)
		if err := s.readAt(buf, first); err != nil {
			return nil, err
		}
		for k := i; k < j; k++ {
			at := locs[k].off - first.off
			rec := buf[at : at+headerSize+locs[k].n : at+headerSize+locs[k].n]
			if err := s.check(rec, keys[k], locs[k]); err != nil {
				return nil, err
			}
			bodies[k] = rec[headerSize:]
		}
		i = j
	}
	return bodies, nil
}

// pendingFrom reports whether l's record is still pending (not written to
// its file). s.mu must be held.
func (s *Store) pendingFrom(l loc) bool {
	seg := s.segs[l.seg]
	return seg == s.active && int64(l.off) >= seg.written
}

// Sync makes every body put so far durable (fdatasync of the segments
// written since the last Sync, and of the directory), then records that in
// the marker file, so a reopen need not check those records again. The
// state machine calls it before a snapshot that refers to them is written.
func (s *Store) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return os.ErrClosed
	}
	if err := s.writePending(); err != nil {
		s.mu.Unlock()
		return err
	}
	segs := make([]*segment, 0, len(s.dirty))
	for _, seg := range s.dirty {
		segs = append(segs, seg)
	}
	clear(s.dirty)
	var m marker
	if s.active != nil {
		m = marker{seg: s.active.id, off: uint64(s.active.size)}
	}
	s.mu.Unlock()
	for _, seg := range segs {
		if err := fsync.Data(seg.f); err != nil && s.redirty(seg) {
			return fmt.Errorf("body store: sync %s: %w", seg.f.Name(), err)
		}
	}
	if err := fsync.Dir(s.dir); err != nil {
		return fmt.Errorf("body store: sync directory: %w", err)
	}
	return writeMarker(s.dir, m)
}

// redirty marks seg unsynced again after a failed fdatasync, and reports
// whether it is still a segment of the store (one deleted meanwhile
// needs no sync: its failure is no error).
func (s *Store) redirty(seg *segment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.segs[seg.id] != seg {
		return false
	}
	s.dirty[seg.id] = seg
	return true
}

// Pinned are the segments a snapshot needs: those holding a body it
// refers to, and every segment from the one being written at its capture
// on (bodies put after the capture are there); and the bodies Compact is
// to copy out of the sparse ones among them (compact.go).
type Pinned struct {
	// live: the bytes of the records the snapshot refers to, per segment
	// holding any (a body referred to twice counts twice).
	live map[uint32]int64
	from uint32
	pin  uint64 // the store's count of Pins at this one
	// sparse are the segments whose bodies Compact copies, moves the keys
	// of their live bodies (sorted, no repeats).
	sparse map[uint32]bool
	moves  []Key
	// partial: moves was cut short at compactKeys.
	partial bool
}

// Pin returns the segments holding the bodies live yields (repeats
// allowed) and those from the one being written on. The state machine
// pins after a snapshot's capture, before it persists it, and deletes the
// rest (DeleteUnpinned) once it is persisted; live must also yield the
// keys put since the capture (before their Put), or a segment sealed in
// between would go with bodies the state refers to. When some sealed
// segments are sparse (compact.go), live is called a second time to list
// their live bodies. The walk of live runs outside the store's lock, which
// is taken for pinBatch keys at a time: a Put waits for one batch at
// most, not for the walk of a whole backlog. Between batches Puts go to
// the segment being written or later ones (pinned from the start), and
// no record moves but by Compact or DeleteUnpinned, which the caller runs
// after its Pin, one at a time.
func (s *Store) Pin(live func(yield func(Key))) Pinned {
	s.mu.RLock()
	p := Pinned{live: make(map[uint32]int64), pin: s.pins.Add(1)}
	if s.active != nil {
		p.from = s.active.id
	}
	s.mu.RUnlock()
	hint := -1 // live yields keys mostly in order: see findFrom
	inBatches(live, func(keys []Key) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, k := range keys {
			if l, ok := s.index.getFrom(k, &hint); ok {
				p.live[l.seg] += headerSize + int64(l.n)
			}
		}
	})
	s.chooseSparse(&p, live)
	return p
}

// pinBatch is how many keys Pin looks up under the store's read lock at a
// time.
const pinBatch = 4096

// inBatches calls fn with the keys live yields, pinBatch at a time (the
// slice is reused).
func inBatches(live func(yield func(Key)), fn func([]Key)) {
	batch := make([]Key, 0, pinBatch)
	live(func(k Key) {
		batch = append(batch, k)
		if len(batch) == pinBatch {
			fn(batch)
			batch = batch[:0]
		}
	})
	if len(batch) > 0 {
		fn(batch)
	}
}

// DeleteUnpinned deletes every segment p does not pin, and returns how
// many. A deleted body is gone: the caller must know that nothing will
// read it (the state no longer refers to it, every body handed out was
// read already, and the snapshots that refer to it are superseded).
func (s *Store) DeleteUnpinned(p Pinned) (int, error) {
	return s.drop(func(id uint32, seg *segment) bool {
		_, pinned := p.live[id]
		return !pinned && id < p.from && seg != s.active && s.touched[id] < p.pin
	})
}

// drop deletes the segments dead says, under the store's lock, with their
// bodies, and returns how many.
func (s *Store) drop(dead func(id uint32, seg *segment) bool) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, os.ErrClosed
	}
	gone := make(map[uint32]*segment)
	for id, seg := range s.segs {
		if !dead(id, seg) {
			continue
		}
		gone[id] = seg
		delete(s.segs, id)
		delete(s.dirty, id)
		delete(s.touched, id)
	}
	if len(gone) > 0 {
		s.index.drop(gone)
	}
	s.mu.Unlock()
	// Closing and unlinking a segment of many megabytes takes the file
	// system a while: outside the lock, so Put (the apply path) and Read
	// do not wait for it. Nothing reaches these segments any more.
	var errs []error
	for _, seg := range gone {
		if err := seg.f.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(seg.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return len(gone), errors.Join(errs...)
}

// Stats reports what the store holds.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Bodies: s.index.count, Segments: len(s.segs)}
	for _, seg := range s.segs {
		st.Bytes += seg.size
	}
	return st
}

// Close closes the segment files; the store is not usable after.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.writePending(), s.closeFiles())
}

func (s *Store) closeFiles() error {
	var errs []error
	ids := make([]uint32, 0, len(s.segs))
	for id := range s.segs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		errs = append(errs, s.segs[id].f.Close())
	}
	return errors.Join(errs...)
}
