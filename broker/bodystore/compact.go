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
// same keys, syncs, and deletes the old segments. A reopen finding a key
// in two segments (a crash between the copy and that deletion) keeps the
// later copy; both hold the same body.

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
// segment), and lists the keys of their live bodies by calling live again,
// outside the store's lock, looked up under it a batch at a time (Pin).
func (s *Store) chooseSparse(p *Pinned, live func(yield func(Key))) {
	s.mu.RLock()
	cands := s.sparseCandidates(p)
	s.mu.RUnlock()
	if len(cands) == 0 {
		return
	}
	p.sparse = make(map[uint32]bool)
	budget := s.segSize
	for _, c := range cands {
		if len(p.sparse) > 0 && c.live > budget {
			break
		}
		p.sparse[c.id] = true
		budget -= c.live
	}
	inBatches(live, func(keys []Key) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, k := range keys {
			if l, ok := s.index.get(k); ok && p.sparse[l.seg] {
				if len(p.moves) < compactKeys {
					p.moves = append(p.moves, k)
				} else {
					p.partial = true
				}
			}
		}
	})
	slices.SortFunc(p.moves, compareKeys)
	p.moves = slices.Compact(p.moves)
}

// sparseCandidate is a sealed segment p pins, with its live bytes.
type sparseCandidate struct {
	id   uint32
	live int64
}

// sparseCandidates returns the sealed segments p pins whose live records
// take under CompactPercent of their bytes, sparsest first. Under the
// store's read lock.
func (s *Store) sparseCandidates(p *Pinned) []sparseCandidate {
	var cands []sparseCandidate
	for id, n := range p.live {
		seg := s.segs[id]
		if seg == nil || id >= p.from || seg == s.active {
			continue
		}
		if n*100 < seg.size*CompactPercent {
			cands = append(cands, sparseCandidate{id, n})
		}
	}
	slices.SortFunc(cands, func(a, b sparseCandidate) int {
		return cmp.Or(cmp.Compare(a.live, b.live), cmp.Compare(a.id, b.id))
	})
	return cands
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Position, b.Position))
}

// Compact copies the bodies p listed out of the sparse segments p chose
// into the active segment, under the same keys, syncs the store, and then
// deletes those segments; it returns how many bodies it copied and how
// many segments it deleted. The state machine calls it once p's snapshot
// is persisted, from the goroutine that persists snapshots (one Compact
// at a time), so:
//
//   - Copying: it reads records without the store's write lock and
//     appends them under it a batch at a time, so Put waits for at most
//     one batch. A Read at any moment finds a key at its old place (still
//     there) or at its new one, and checks the record's CRC and key
//     either way. A key deleted or moved meanwhile is skipped.
//   - Deleting: a sparse segment goes once the Sync made the copies
//     durable. The persisted snapshot refers to keys, not places: every
//     body it refers to in that segment was copied (p listed all of them,
//     or the segment stays), and the others no state from it on refers
//     to (as for DeleteUnpinned). A segment touched since p's Pin (a Put
//     of a key it holds) stays, as does every one when p's list was cut
//     short (compactKeys); the next snapshots take them. A crash before
//     the deletion leaves a key in two segments: a reopen keeps the later
//     copy.
func (s *Store) Compact(p Pinned) (moved, deleted int, err error) {
	if len(p.moves) == 0 && len(p.sparse) == 0 {
		return 0, 0, nil
	}
	var batch []relocation
	size := 0
	flush := func() error {
		n, err := s.relocate(batch)
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
			return moved, 0, err
		case !p.sparse[from.seg]:
			continue // moved since
		}
		batch = append(batch, relocation{k, from, rec})
		if size += len(rec); size >= compactBatch {
			if err := flush(); err != nil {
				return moved, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return moved, 0, err
	}
	if p.partial {
		return moved, 0, nil
	}
	if err := s.Sync(); err != nil {
		return moved, 0, err
	}
	// Only Put adds keys, to the active segment: a listed key found
	// outside the sparse segments now stays outside.
	uncopied := make(map[uint32]bool)
	s.mu.RLock()
	for _, k := range p.moves {
		if l, ok := s.index.get(k); ok && p.sparse[l.seg] {
			uncopied[l.seg] = true
		}
	}
	s.mu.RUnlock()
	deleted, err = s.drop(func(id uint32, seg *segment) bool {
		return p.sparse[id] && !uncopied[id] && seg != s.active && s.touched[id] < p.pin
	})
	return moved, deleted, err
}

// relocation is a record Compact read: its key, the place it was read
// from, and the record.
type relocation struct {
	k    Key
	from loc
	rec  []byte
}

// relocate appends the records rs to the active segment and points their
// keys there, under the store's lock, skipping a key no longer at the
// place it was read from. It returns how many it appended.
func (s *Store) relocate(rs []relocation) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, os.ErrClosed
	}
	moved := 0
	for _, r := range rs {
		if l, ok := s.index.get(r.k); !ok || l != r.from {
			continue
		}
		if err := s.makeRoom(int64(len(r.rec))); err != nil {
			return moved, fmt.Errorf("body store: compaction: %w", err)
		}
		s.pending = append(s.pending, r.rec...)
		moved++
		if err := s.appended(r.k, len(r.rec)); err != nil {
			return moved, fmt.Errorf("body store: compaction: %w", err)
		}
	}
	return moved, nil
}
