package bodystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/warrenmq/warren/internal/fsync"
)

// The marker file records how far the last Sync made the store durable:
//
//	u32 segment id, u64 offset in it, u32 CRC32C of the 12 bytes before
//
// Every record in a segment below that id, and below that offset in that
// segment, was fdatasynced: a reopen reads only their headers. Records
// after it may be torn or missing (the page cache writes back in any
// order), so each is read whole and checked; at the first that fails the
// segment is cut there and every later segment deleted. What is cut is
// still in the Raft log (or the snapshot) and is put again when the
// entries after the snapshot are re-applied.
const markerName = "synced"

type marker struct {
	seg uint32
	off uint64
}

func writeMarker(dir string, m marker) error {
	b := binary.LittleEndian.AppendUint32(nil, m.seg)
	b = binary.LittleEndian.AppendUint64(b, m.off)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(dir, markerName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("body store: marker: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, markerName))
	}
	if err == nil {
		err = fsync.Dir(dir)
	}
	if err != nil {
		return fmt.Errorf("body store: marker: %w", err)
	}
	return nil
}

// readMarker returns the marker, or the zero marker (nothing trusted) when
// there is none or it is damaged.
func readMarker(dir string) marker {
	b, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil || len(b) != 16 || crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return marker{}
	}
	return marker{seg: binary.LittleEndian.Uint32(b), off: binary.LittleEndian.Uint64(b[4:])}
}

// recover opens the segments and rebuilds the index.
func (s *Store) recover() error {
	names, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var ids []uint32
	for _, e := range names {
		var id uint32
		if _, err := fmt.Sscanf(e.Name(), "seg-%010d.body", &id); err == nil && strings.HasSuffix(e.Name(), ".body") && id > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	m := readMarker(s.dir)
	s.lastID = m.seg
	if len(ids) > 0 {
		s.lastID = max(s.lastID, ids[len(ids)-1])
	}
	for i, id := range ids {
		f, err := os.OpenFile(filepath.Join(s.dir, segmentName(id)), os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		seg := &segment{id: id, f: f}
		s.segs[id] = seg
		s.active = seg
		trusted := int64(0)
		switch {
		case id < m.seg:
			trusted = -1 // all of it
		case id == m.seg:
			trusted = int64(m.off)
		}
		end, damaged, err := s.scan(seg, trusted)
		if err != nil {
			return err
		}
		seg.size, seg.written = end, end
		if !damaged {
			continue
		}
		// Cut here; what follows was written after it and never synced
		// (a body cut from a synced part too is put again by the restore
		// of the snapshot, which carries every body it refers to).
		if err := f.Truncate(end); err != nil {
			return err
		}
		for _, later := range ids[i+1:] {
			if err := os.Remove(filepath.Join(s.dir, segmentName(later))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	return nil
}

// scan indexes seg's records. Those below trusted (all when trusted is -1)
// are indexed by their headers; the others are read whole and checked. It
// returns the end of the last good record and whether anything follows it.
func (s *Store) scan(seg *segment, trusted int64) (end int64, damaged bool, err error) {
	st, err := seg.f.Stat()
	if err != nil {
		return 0, false, err
	}
	size := st.Size()
	if trusted < 0 || trusted > size {
		trusted = size
	}
	var hdr [headerSize]byte
	var rec []byte
	off := int64(0)
	for off < size {
		if size-off < headerSize {
			return off, true, nil
		}
		if _, err := seg.f.ReadAt(hdr[:], off); err != nil {
			return 0, false, err
		}
		h := parseHeader(hdr[:])
		n := int64(headerSize) + int64(h.n)
		if h.n > MaxBodyBytes || off+n > size {
			return off, true, nil
		}
		if off+n > trusted {
			rec = slices.Grow(rec[:0], int(n))[:n]
			if _, err := seg.f.ReadAt(rec, off); err != nil && err != io.EOF {
				return 0, false, err
			}
			if !valid(rec) {
				return off, true, nil
			}
		}
		// A key in two segments is a body Compact copied whose old
		// segment was not deleted yet (the same body, both checked as
		// any record is): the later copy is kept, so the old segment is
		// not pinned again.
		s.index.set(h.key, loc{seg: seg.id, off: uint32(off), n: h.n})
		off += n
	}
	return off, false, nil
}
