package segmentlog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/warrenmq/warren/internal/fsync"
)

// recover reads the directory into s: it removes the temporary files of
// interrupted creations, reads the first index, checks every segment
// record by record, cuts a torn tail off the last segment, and removes the
// segments an interrupted deletion left below the first index. Damage
// that a crash cannot explain is an error wrapping ErrCorrupt.
func (s *Store) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var bases []uint64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpExt):
			// Never renamed into place, so never part of the log.
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return err
			}
		default:
			if base, ok := parseSegmentName(name); ok {
				bases = append(bases, base)
			}
		}
	}
	slices.Sort(bases)
	if s.diskFirst, err = readFirstIndex(s.dir); err != nil {
		return err
	}
	// Segments wholly below the first index (their successor starts at or
	// below it) are what a head truncation or a clearing had not removed
	// yet: garbage, whatever they hold, so they are not read.
	var garbage []string
	for len(bases) > 1 && bases[1] <= s.diskFirst {
		garbage = append(garbage, filepath.Join(s.dir, segmentName(bases[0])))
		bases = bases[1:]
	}
	for i, base := range bases {
		seg, err := s.openSegment(base, i == len(bases)-1)
		if err != nil {
			return err
		}
		if i > 0 {
			prev := s.segs[i-1]
			if want := prev.base + uint64(len(prev.offsets)); base != want {
				_ = seg.f.Close()
				return fmt.Errorf("%w: %s starts at index %d but %s ends at %d: a segment is missing or damaged",
					ErrCorrupt, seg.path, base, prev.path, want-1)
			}
		}
		s.segs = append(s.segs, seg)
	}
	if n := len(s.segs); n > 0 {
		lastSeg := s.segs[n-1]
		s.first = max(s.diskFirst, s.segs[0].base)
		s.last = lastSeg.base + uint64(len(lastSeg.offsets)) - 1
		if s.last < s.first {
			// No entry left: a cleared log, or one whose only write was
			// torn. It restarts wherever the next append says.
			for _, seg := range s.segs {
				_ = seg.f.Close()
				garbage = append(garbage, seg.path)
			}
			s.segs, s.first, s.last = nil, 0, 0
		}
	}
	for _, path := range garbage {
		s.logger.Info("removing a segment below the log's first index", "file", path)
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	if len(garbage) > 0 {
		return fsync.Dir(s.dir)
	}
	return nil
}

// openSegment opens and checks the segment that starts at base. Every
// record must be whole and in index order to the end of the file; only in
// the last segment may the end be a torn write, which is cut off.
func (s *Store) openSegment(base uint64, last bool) (_ *segment, err error) {
	path := filepath.Join(s.dir, segmentName(base))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
		}
	}()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// The header was written whole before the file got its name
	// (createFile), so a bad one is damage, not a torn write.
	if err := checkSegmentHeader(b, base); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	seg := &segment{base: base, path: path, f: f}
	pos := segmentHeaderSize
	for pos < len(b) {
		next := base + uint64(len(seg.offsets))
		r, ok := parseRecord(b[pos:])
		if ok && r.index == next {
			seg.offsets = append(seg.offsets, uint32(pos))
			pos += r.size
			continue
		}
		if !last {
			if ok {
				return nil, fmt.Errorf("%w: %s: offset %d holds entry %d where entry %d belongs", ErrCorrupt, path, pos, r.index, next)
			}
			return nil, fmt.Errorf("%w: %s: damaged record at offset %d (entry %d) in a sealed segment", ErrCorrupt, path, pos, next)
		}
		// In the last segment a whole record of the wrong entry is
		// judged like damage: if it is stale bytes a torn write exposed
		// (its entry below next), nothing later exists either.
		if later, found := laterWrite(b, pos, next); found {
			return nil, fmt.Errorf("%w: %s: damaged record at offset %d (entry %d), followed by entry %d of a later write at offset %d",
				ErrCorrupt, path, pos, next, later.index, later.offset)
		}
		// A torn tail: the last StoreLogs had not returned (its fdatasync
		// had not), so raft never counted these bytes as stored.
		s.logger.Warn("cutting off the torn tail of the last write", "file", path, "offset", pos, "bytes", len(b)-pos, "entry", next)
		if err := f.Truncate(int64(pos)); err != nil {
			return nil, fmt.Errorf("truncate %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("fsync %s: %w", path, err)
		}
		b = b[:pos]
	}
	seg.size = int64(pos)
	return seg, nil
}

// found is a whole record found past a damaged one.
type found struct {
	index  uint64
	offset int
}

// laterWrite reports whether b, from the damaged record at pos where entry
// next belongs, holds a whole record written by a later StoreLogs than the
// one that wrote entry next — proof that this call returned (each call
// fdatasyncs before the next writes), so the damage is not a torn write.
// Records of the same call may be whole past a torn one: the kernel writes
// an unsynced range back in any order, so a power loss can keep its later
// pages and lose earlier ones. A record's lead field says which call wrote
// it: index-lead is the first index of that call, at or below next for the
// call of entry next, above it for any later one. The search tries every
// offset, which the frame header's own CRC makes cheap.
func laterWrite(b []byte, pos int, next uint64) (found, bool) {
	for o := pos; o+frameHeaderSize <= len(b); o++ {
		r, ok := parseRecord(b[o:])
		if !ok || r.index < next || uint64(r.lead) > r.index {
			continue
		}
		if r.index-uint64(r.lead) > next {
			return found{index: r.index, offset: o}, true
		}
		o += r.size - 1
	}
	return found{}, false
}
