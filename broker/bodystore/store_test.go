package bodystore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func body(k Key, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(int(k.Index)*7 + int(k.Position)*13 + i)
	}
	return b
}

func open(t *testing.T, dir string, seg int64) *Store {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: seg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustRead(t *testing.T, s *Store, k Key, want []byte) {
	t.Helper()
	got, err := s.Read(k)
	if err != nil {
		t.Fatalf("read %+v: %v", k, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %+v: %d bytes, not the body put", k, len(got))
	}
}

func TestPutReadReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4096)
	var keys []Key
	for i := range 50 {
		k := Key{Index: uint64(10 + i/3), Position: uint32(i % 3)}
		keys = append(keys, k)
		if err := s.Put(k, body(k, 100+i*10)); err != nil {
			t.Fatal(err)
		}
	}
	// A second Put of a key keeps the first body.
	if err := s.Put(keys[0], []byte("other")); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		mustRead(t, s, k, body(k, 100+i*10))
	}
	if _, err := s.Read(Key{Index: 999}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if st := s.Stats(); st.Bodies != 50 || st.Segments < 3 {
		t.Fatalf("stats %+v: want 50 bodies in several 4 KiB segments", st)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir, 4096)
	for i, k := range keys {
		mustRead(t, s2, k, body(k, 100+i*10))
	}
	// Appends continue after the recovered ones.
	k := Key{Index: 500}
	if err := s2.Put(k, body(k, 3000)); err != nil {
		t.Fatal(err)
	}
	mustRead(t, s2, k, body(k, 3000))
}

func TestCollectDeletesUnreferencedSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<12)
	for i := range 40 {
		k := Key{Index: uint64(i + 1)}
		if err := s.Put(k, body(k, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats()
	keep := Key{Index: 20}
	pinned := s.Pin(func(yield func(Key)) { yield(keep); yield(keep) })
	// A body put after the pin, in a new segment, stays too.
	late := Key{Index: 41}
	if err := s.Put(late, body(late, 4000)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteUnpinned(pinned)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	// Only keep's segment, the one active at the pin and the new one stay.
	if after.Segments != 3 || n != before.Segments-2 || after.Bytes >= before.Bytes {
		t.Fatalf("collect removed %d: before %+v, after %+v", n, before, after)
	}
	mustRead(t, s, keep, body(keep, 1000))
	if _, err := s.Read(Key{Index: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("collected key still read: %v", err)
	}
	mustRead(t, s, late, body(late, 4000))
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	if len(files) != 3 {
		t.Fatalf("%d segment files on disk, want 3", len(files))
	}
	// Reopen sees the same.
	s.Close()
	s2 := open(t, dir, 1<<12)
	if st := s2.Stats(); st.Segments != 3 {
		t.Fatalf("after reopen: %+v", st)
	}
	mustRead(t, s2, keep, body(keep, 1000))
}

// TestTornTail cuts the unsynced tail of the last segment at every byte
// and damages every byte of it: a reopen keeps exactly the records before
// the damage (all that was synced among them), reads them intact, and
// takes new records after them.
func TestTornTail(t *testing.T) {
	src := t.TempDir()
	s := open(t, src, 1<<20)
	var keys []Key
	put := func(i int) {
		k := Key{Index: uint64(i + 1), Position: uint32(i % 2)}
		keys = append(keys, k)
		if err := s.Put(k, body(k, 37+i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		put(i)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := s.Stats().Bytes
	for i := 3; i < 6; i++ {
		put(i)
	}
	s.Close()
	seg := filepath.Join(src, segmentName(1))
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	marker, err := os.ReadFile(filepath.Join(src, markerName))
	if err != nil {
		t.Fatal(err)
	}
	// ends[i] is the end of record i.
	var ends []int64
	var off int64
	for i := range keys {
		off += int64(headerSize + 37 + i)
		ends = append(ends, off)
	}
	intact := func(limit int64) int { // records wholly before limit
		n := 0
		for _, e := range ends {
			if e <= limit {
				n++
			}
		}
		return n
	}
	check := func(t *testing.T, name string, data []byte, want int) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, markerName), marker, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir, Options{SegmentBytes: 1 << 20})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer r.Close()
		if st := r.Stats(); st.Bodies != want {
			t.Fatalf("%s: %d bodies recovered, want %d", name, st.Bodies, want)
		}
		for i, k := range keys[:want] {
			got, err := r.Read(k)
			if err != nil || !bytes.Equal(got, body(k, 37+i)) {
				t.Fatalf("%s: record %d: %v", name, i, err)
			}
		}
		k := Key{Index: 1000}
		if err := r.Put(k, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Read(k); err != nil || string(got) != "after" {
			t.Fatalf("%s: put after recovery: %q %v", name, got, err)
		}
	}
	for cut := synced; cut <= int64(len(full)); cut++ {
		check(t, fmt.Sprintf("cut at %d", cut), full[:cut], intact(cut))
	}
	for pos := synced; pos < int64(len(full)); pos++ {
		damaged := bytes.Clone(full)
		damaged[pos] ^= 0x40
		// The record holding pos is lost, and everything after it.
		check(t, fmt.Sprintf("damage at %d", pos), damaged, intact(pos))
	}
	// A zeroed tail (pages never written back) is cut too.
	zeroed := bytes.Clone(full)
	clear(zeroed[ends[3]:])
	check(t, "zeroed tail", zeroed, 4)
}

// TestLaterSegmentsCutWithDamage: damage in an unsynced segment removes
// every segment after it.
func TestLaterSegmentsCutWithDamage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 256)
	for i := range 10 {
		k := Key{Index: uint64(i + 1)}
		if err := s.Put(k, body(k, 200)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Nothing synced: damage the third segment.
	p := filepath.Join(dir, segmentName(3))
	b, _ := os.ReadFile(p)
	b[headerSize+5] ^= 1
	os.WriteFile(p, b, 0o600)
	r := open(t, dir, 256)
	if st := r.Stats(); st.Bodies != 2 || st.Segments != 3 {
		t.Fatalf("after damage in segment 3: %+v, want 2 bodies in 3 segments", st)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(4))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 4 kept: %v", err)
	}
}

func TestReadDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	k := Key{Index: 3, Position: 1}
	if err := s.Put(k, body(k, 500)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil { // the record leaves the write buffer for the file
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, segmentName(1)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xFF}, headerSize+100)
	f.Close()
	if _, err := s.Read(k); err == nil {
		t.Fatal("a damaged body was read without error")
	}
}

// TestPendingBodiesReadBeforeWritten: bodies put and not yet written to
// their file (the write buffer) read back the same, and a reopen after
// Close finds them in the file.
func TestPendingBodiesReadBeforeWritten(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	var keys []Key
	for i := range 3 * WriteBuffer / 1000 { // crosses the buffer's size: some written, some pending
		k := Key{Index: uint64(i + 1)}
		if err := s.Put(k, body(k, 1000)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if s.active.written == 0 || len(s.pending) == 0 {
		t.Fatalf("written %d, pending %d: want both", s.active.written, len(s.pending))
	}
	check := func(s *Store) {
		for _, k := range keys {
			got, err := s.Read(k)
			if err != nil || !bytes.Equal(got, body(k, 1000)) {
				t.Fatalf("read %v: %v", k, err)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, dir, 0))
}
