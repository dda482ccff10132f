package bodystore

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Compaction of sparse segments. A segment stays while one of its bodies
// is referenced, so a few long-lived messages (a poison message
// redelivered forever, a delayed one, one delivery a consumer holds)
// spread over the segments would keep them all. So Pin also picks the
// sealed segments whose live records take under CompactPercent of their
// bytes, and Compact, run after the snapshot is persisted (outside the
// apply lock), copies those records into the active segment under the
// same keys. The next snapshot's Pin finds the keys there, no longer pins
// the old segments, and its DeleteUnpinned deletes them: after the Sync
// that made the copies durable and once a snapshot that no longer needs
// the old segments is persisted. A reopen finding a key in two segments
// (a crash between the copy and that deletion) keeps the later copy; both
// hold the same body.

// CompactPercent: a sealed segment whose live records take under this
// share of its bytes is compacted. Copying one costs at most a quarter of
// a segment to free a whole one (at most a third of a byte copied per byte
// freed), and every sealed segment left holds at least a quarter live
// bytes, so they take at most four times the live bytes.
const CompactPercent = 25

const (
	// compactKeys bounds the bodies one Pin lists for Compact (16 bytes
	// each): a segment of many tiny bodies is compacted over several
	// snapshots.
	compactKeys = 1 << 18
	// compactBatch is about how many bytes of records Compact reads before
	// it takes the store's lock to append them: Put (the apply path) waits
	// for at most one such copy.
	compactBatch = 256 << 10
)

// chooseSparse picks, for p (its live bytes counted), the sealed segments
// to compact, sparsest first (most space freed per byte copied), up to
// about one segment's size of live records per snapshot (at least one
// segment), and lists the keys of their live bodies by calling live again.
// Under the store's read lock.
func (s *Store) chooseSparse(p *Pinned, live func(yield func(Key))) {
	type candidate struct {
		id   uint32
		live int64
	}
	var cands []candidate
	for id, n := range p.live {
		seg := s.segs[id]
		if seg == nil || id >= p.from || seg == s.active {
			continue
		}
		if n*100 < seg.size*CompactPercent {
			cands = append(cands, candidate{id, n})
		}
	}
	if len(cands) == 0 {
		return
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.live, b.live), cmp.Compare(a.id, b.id))
	})
	p.sparse = make(map[uint32]bool)
	budget := s.segSize
	for _, c := range cands {
		if len(p.sparse) > 0 && c.live > budget {
			break
		}
		p.sparse[c.id] = true
		budget -= c.live
	}
	live(func(k Key) {
		if l, ok := s.index[k]; ok && p.sparse[l.seg] && len(p.moves) < compactKeys {
			p.moves = append(p.moves, k)
		}
	})
	slices.SortFunc(p.moves, compareKeys)
	p.moves = slices.Compact(p.moves)
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Position, b.Position))
}

// Compact copies the bodies p listed out of the sparse segments p chose
// into the active segment, under the same keys, and returns how many it
// copied. It reads records without the store's write lock and appends them
// under it a batch at a time, so Put waits for at most one batch; a Read
// at any moment finds a key at its old place (still there) or its new one,
// and checks the record's CRC and key either way. A key deleted or moved
// meanwhile is skipped. Nothing is synced: the old segments stay until a
// later snapshot's Pin, Sync and DeleteUnpinned, in that order, so a
// crash before the copies are durable finds the bodies where they were.
// The state machine calls it once p's snapshot is persisted, from the
// goroutine that persists snapshots (one Compact at a time).
func (s *Store) Compact(p Pinned) (int, error) {
	type record struct {
		k    Key
		from loc
		rec  []byte
	}
	moved := 0
	var batch []record
	size := 0
	flush := func() error {
		n, err := s.relocate(len(batch), func(i int) (Key, loc, []byte) {
			return batch[i].k, batch[i].from, batch[i].rec
		})
		moved += n
		batch, size = batch[:0], 0
		return err
	}
	for _, k := range p.moves {
		from, rec, err := s.readRecord(k)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // deleted since
		case err != nil:
			return moved, err
		case !p.sparse[from.seg]:
			continue // moved since
		}
		batch = append(batch, record{k, from, rec})
		if size += len(rec); size >= compactBatch {
			if err := flush(); err != nil {
				return moved, err
			}
		}
	}
	if len(batch) == 0 {
		return moved, nil
	}
	return moved, flush()
}

// relocate appends n records (at(i): key, the place it was read from, the
// record) to the active segment and points their keys there, under the
// store's lock, skipping a key no longer at that place. It returns how
// many it appended.
func (s *Store) relocate(n int, at func(i int) (Key, loc, []byte)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, os.ErrClosed
	}
	moved := 0
	for i := range n {
		k, from, rec := at(i)
		if s.index[k] != from {
			continue
		}
		if err := s.makeRoom(int64(len(rec))); err != nil {
			return moved, fmt.Errorf("body store: compaction: %w", err)
		}
		s.pending = append(s.pending, rec...)
		moved++
		if err := s.appended(k, len(rec)); err != nil {
			return moved, fmt.Errorf("body store: compaction: %w", err)
		}
	}
	return moved, nil
}
