package segmentlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// tornFixture writes entries 1..12 in the batches [1,5] [6,8] [9,12] into
// one segment, closes the store and returns the segment's path, its bytes
// and the offset of each entry's record (offsets[i] for entry i; offsets[13]
// is the end of the file).
func tornFixture(t *testing.T) (dir, path string, b []byte, offsets []int64, all []*raft.Log) {
	t.Helper()
	dir = t.TempDir()
	s := openStore(t, dir, 0)
	all = entries(1, 12, 1, 40)
	mustStore(t, s, all[0:5]...)
	mustStore(t, s, all[5:8]...)
	mustStore(t, s, all[8:12]...)
	seg := s.segs[0]
	offsets = []int64{0}
	for _, o := range seg.offsets {
		offsets = append(offsets, int64(o))
	}
	offsets = append(offsets, seg.size)
	path = seg.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, b, offsets, all
}

// reopenAfter writes b as the segment and opens the store.
func reopenAfter(t *testing.T, dir, path string, b []byte) (*Store, error) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

// wantRecovered checks that s holds entries 1..n of all, that the file
// was cut right after entry n, and that the log continues from there.
func wantRecovered(t *testing.T, s *Store, path string, all []*raft.Log, n int, end int64) {
	t.Helper()
	wantLog(t, s, all[:n])
	if fi, err := os.Stat(path); err != nil || fi.Size() != end {
		t.Fatalf("segment is %v bytes (%v), want cut at %d", fi.Size(), err, end)
	}
	next := entry(uint64(n+1), 2, 30)
	mustStore(t, s, next)
	s2 := reopen(t, s)
	wantLog(t, s2, append(all[:n:n], next))
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTornLastRecord: the last write cut at every byte, a byte of it
// flipped at every position, or zeros after it: the store reopens with
// the entries before it, and the file cut after them.
func TestTornLastRecord(t *testing.T) {
	dir, path, b, off, all := tornFixture(t)
	for cut := off[12]; cut < off[13]; cut++ {
		s, err := reopenAfter(t, dir, path, b[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		wantRecovered(t, s, path, all, 11, off[12])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for pos := off[12]; pos < off[13]; pos++ {
		c := append([]byte(nil), b...)
		c[pos] ^= 0x40
		s, err := reopenAfter(t, dir, path, c)
		if err != nil {
			t.Fatalf("byte %d flipped: %v", pos, err)
		}
		wantRecovered(t, s, path, all, 11, off[12])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, zeros := range []int{1, 11, 12, 100, 4096} {
		s, err := reopenAfter(t, dir, path, append(append([]byte(nil), b...), make([]byte, zeros)...))
		if err != nil {
			t.Fatalf("%d zeros: %v", zeros, err)
		}
		wantRecovered(t, s, path, all, 12, off[13])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornLastWriteWithHole: a power loss can keep later pages of an
// unsynced write and lose earlier ones. Damage inside the last StoreLogs
// with whole records of the same call after it is a torn write: the log
// keeps what comes before the damage.
func TestTornLastWriteWithHole(t *testing.T) {
	dir, path, b, off, all := tornFixture(t)
	for _, e := range []int{9, 10, 11} { // entries of the last call [9,12]
		c := append([]byte(nil), b...)
		clear(c[off[e]:off[e+1]]) // a page that never reached the disk
		s, err := reopenAfter(t, dir, path, c)
		if err != nil {
			t.Fatalf("entry %d zeroed: %v", e, err)
		}
		wantRecovered(t, s, path, all, e-1, off[e])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInteriorDamageRefused: damage to a record followed by a record of a
// later StoreLogs is not a torn write (the later call ran only after the
// earlier one's fdatasync returned): Open refuses, naming file and offset,
// and changes nothing.
func TestInteriorDamageRefused(t *testing.T) {
	dir, path, b, off, _ := tornFixture(t)
	damage := map[string]func(c []byte){
		"byte flipped in entry 7": func(c []byte) { c[off[7]+20] ^= 1 },
		"entry 6 zeroed":          func(c []byte) { clear(c[off[6]:off[7]]) },
		"entry 3 length too long": func(c []byte) {
			binary.LittleEndian.PutUint32(c[off[3]:], 1<<20)
			binary.LittleEndian.PutUint32(c[off[3]+8:], crc(c[off[3]:off[3]+8]))
		},
		"entry 8 header CRC": func(c []byte) { c[off[8]+9] ^= 0x80 },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			c := append([]byte(nil), b...)
			f(c)
			_, err := reopenAfter(t, dir, path, c)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("open: %v, want ErrCorrupt naming %s and an offset", err, path)
			}
			t.Log(err)
			if got, _ := os.ReadFile(path); string(got) != string(c) {
				t.Fatal("a refused open changed the file")
			}
		})
	}
}

// TestSealedSegmentDamageRefused: a sealed segment was fsynced before the
// next one existed, so any damage in it, at its end too, is refused.
func TestSealedSegmentDamageRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 2048)
	mustStore(t, s, entries(1, 30, 1, 200)...)
	seg := s.segs[0]
	lastOff, size := int64(seg.offsets[len(seg.offsets)-1]), seg.size
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][]byte{
		"last record flipped": func() []byte { c := append([]byte(nil), b...); c[lastOff+30] ^= 1; return c }(),
		"cut":                 b[:size-5],
		"zeros after":         append(append([]byte(nil), b...), 0, 0, 0),
		"header":              func() []byte { c := append([]byte(nil), b...); c[9] ^= 1; return c }(),
		"empty":               nil,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := reopenAfter(t, dir, seg.path, c)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), seg.path) {
				t.Fatalf("open: %v, want ErrCorrupt naming %s", err, seg.path)
			}
			t.Log(err)
		})
	}
}

func TestDamagedFirstIndexRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	mustStore(t, s, entries(1, 10, 1, 10)...)
	mustDelete(t, s, 1, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, firstIndexFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[5] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open: %v, want ErrCorrupt naming %s", err, path)
	}
}

// TestTornNewSegment: a batch that filled a segment and started the next
// one, cut anywhere in the new segment, reopens to the sealed segment's
// entries plus the whole records after them.
func TestTornNewSegment(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1024)
	all := entries(1, 8, 1, 200)
	mustStore(t, s, all...)
	if len(s.segs) < 2 {
		t.Fatalf("%d segments, want a rollover", len(s.segs))
	}
	seg := s.segs[len(s.segs)-1]
	before := int(seg.base - 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	for cut := segmentHeaderSize; cut < len(b); cut += 7 {
		s, err := reopenAfter(t, dir, seg.path, b[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		last, _ := s.LastIndex()
		if last < uint64(before) || last >= 8 {
			t.Fatalf("cut at %d: last %d, want in [%d, 8)", cut, last, before)
		}
		wantLog(t, s, all[:last])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzRecover: whatever bytes follow a valid segment header in the last
// segment, Open never panics, and a store it opens is consistent: every
// entry in [FirstIndex, LastIndex] reads back, and it takes the next one
// and reopens the same.
func FuzzRecover(f *testing.F) {
	var valid []byte
	for i, l := range entries(1, 4, 1, 20) {
		valid = appendRecord(valid, l, uint32(i))
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(append(append([]byte(nil), valid...), make([]byte, 40)...))
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, body []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, append(segmentHeader(1), body...), 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{SegmentBytes: 4096})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open failed without ErrCorrupt: %v", err)
			}
			return
		}
		defer s.Close()
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		var got []*raft.Log
		for i := first; i <= last && last > 0; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil {
				t.Fatalf("GetLog(%d) in [%d, %d]: %v", i, first, last, err)
			}
			got = append(got, &l)
		}
		next := entry(last+1, 9, 10)
		if err := s.StoreLog(next); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2, err := Open(dir, Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatalf("reopen after recovery: %v", err)
		}
		defer s2.Close()
		want := append(got, next)
		if f2, _ := s2.FirstIndex(); f2 != want[0].Index {
			t.Fatalf("first %d after reopen, want %d", f2, want[0].Index)
		}
		for _, w := range want {
			var l raft.Log
			if err := s2.GetLog(w.Index, &l); err != nil {
				t.Fatal(err)
			}
			if d := sameLog(&l, w); d != "" {
				t.Fatal(fmt.Sprint("after reopen: ", d))
			}
		}
	})
}
