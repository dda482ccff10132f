package bodystore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// snapshot does what the state machine does at a snapshot: pin the live
// keys, sync, delete the unpinned segments, then compact the sparse ones.
// It returns how many bodies Compact copied.
func snapshot(t *testing.T, s *Store, live []Key) int {
	t.Helper()
	p := s.Pin(func(yield func(Key)) {
		for _, k := range live {
			yield(k)
		}
	})
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUnpinned(p); err != nil {
		t.Fatal(err)
	}
	n, _, err := s.Compact(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// putMany puts n bodies of size bytes from index from on, and returns
// their keys.
func putMany(t *testing.T, s *Store, from, n, size int) []Key {
	t.Helper()
	var keys []Key
	for i := range n {
		k := Key{Index: uint64(from + i)}
		if err := s.Put(k, body(k, size)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestCompactFreesSparseSegments: one long-lived body in each of the
// first segments kept them all before; now the snapshot after the copy
// deletes them, the bodies read back from their new place, also after a
// reopen.
func TestCompactFreesSparseSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4096)
	keys := putMany(t, s, 1, 100, 300) // 320-byte records, 12 per segment
	live := []Key{keys[0], keys[30], keys[60]}
	if n := snapshot(t, s, live); n != 3 {
		t.Fatalf("first snapshot copied %d bodies, want the 3 live ones of sparse segments", n)
	}
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("%d segment files after the snapshot (%v), want only the active one", len(files), files)
	}
	for _, k := range live {
		mustRead(t, s, k, body(k, 300))
	}
	if n := snapshot(t, s, live); n != 0 {
		t.Fatalf("second snapshot copied %d bodies, want none (all in the active segment)", n)
	}
	s.Close()
	s2 := open(t, dir, 4096)
	for _, k := range live {
		mustRead(t, s2, k, body(k, 300))
	}
	if st := s2.Stats(); st.Segments != 1 {
		t.Fatalf("reopened: %+v, want one segment", st)
	}
}

// TestCompactLeavesDenseSegments: a sealed segment whose live records take
// at least CompactPercent of it is not copied.
func TestCompactLeavesDenseSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4096)
	keys := putMany(t, s, 1, 40, 300)
	// 3 of the first segment's 12 records: 25%, not under it.
	if n := snapshot(t, s, keys[:3]); n != 0 {
		t.Fatalf("copied %d bodies out of a segment a quarter live", n)
	}
	// 2 of 12: under.
	if n := snapshot(t, s, keys[:2]); n != 2 {
		t.Fatalf("copied %d bodies out of a segment a sixth live, want 2", n)
	}
}

// TestCompactBoundsRound: one snapshot copies about one segment's size of
// live records at most (sparsest segments first); the rest follow at the
// next snapshots, and in the end one segment is left per quarter of its
// size that is live.
func TestCompactBoundsRound(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 4096)
	keys := putMany(t, s, 1, 12*40, 300) // 40 segments
	var live []Key
	for i := 0; i < len(keys); i += 12 {
		live = append(live, keys[i], keys[i+1]) // 2 of 12 in each
	}
	first := snapshot(t, s, live)
	if first == 0 || first*320 > 4096+2*320 {
		t.Fatalf("the first snapshot copied %d records of 320 bytes, want about a 4 KiB segment's worth", first)
	}
	total := first
	for range 100 {
		n := snapshot(t, s, live)
		if n == 0 {
			break
		}
		total += n
	}
	if total < len(live)-12 {
		t.Fatalf("%d of %d live bodies copied", total, len(live))
	}
	snapshot(t, s, live)
	// 80 live records of 320 bytes: 25 KiB; at worst 4× that in segments.
	if st := s.Stats(); st.Bytes > 4*int64(len(live))*320+2*4096 {
		t.Fatalf("%+v after compaction, %d live records", st, len(live))
	}
	for _, k := range live {
		mustRead(t, s, k, body(k, 300))
	}
}

// TestKeyInTwoSegments: a crash between the copy and the deletion of the
// old segment leaves a key in two segments. After the Sync (the old file
// not yet unlinked), the reopen keeps the later copy, and the next
// snapshot deletes the old segment; before it (the copy in the active
// segment's unsynced tail, cut), the old one serves.
func TestKeyInTwoSegments(t *testing.T) {
	for _, synced := range []bool{true, false} {
		dir := t.TempDir()
		s, err := Open(dir, Options{SegmentBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		keys := putMany(t, s, 1, 30, 300)
		live := []Key{keys[0]}
		first := filepath.Join(dir, segmentName(1))
		old, err := os.ReadFile(first)
		if err != nil {
			t.Fatal(err)
		}
		if synced {
			if n := snapshot(t, s, live); n != 1 {
				t.Fatalf("copied %d, want 1", n)
			}
			s.Close()
			if err := os.WriteFile(first, old, 0o600); err != nil { // not unlinked yet
				t.Fatal(err)
			}
		} else {
			p := s.Pin(func(yield func(Key)) { yield(keys[0]) })
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteUnpinned(p); err != nil {
				t.Fatal(err)
			}
			p.partial = true // copy only: the crash comes before the Sync
			if moved, deleted, err := s.Compact(p); err != nil || moved != 1 || deleted != 0 {
				t.Fatalf("compact: %d copied, %d deleted, %v", moved, deleted, err)
			}
			m := readMarker(dir)
			active := filepath.Join(dir, segmentName(s.active.id))
			s.Close()
			if m.seg != s.active.id {
				t.Fatalf("marker at segment %d, active %d", m.seg, s.active.id)
			}
			if err := os.Truncate(active, int64(m.off)+10); err != nil {
				t.Fatal(err)
			}
		}
		s2 := open(t, dir, 4096)
		mustRead(t, s2, keys[0], body(keys[0], 300))
		if l, _ := s2.index.get(keys[0]); synced == (l.seg == 1) {
			t.Fatalf("synced %t: key read from segment %d", synced, l.seg)
		}
		snapshot(t, s2, live)
		if !synced { // copied at the first, deleted then
			snapshot(t, s2, live)
		}
		if _, ok := s2.segs[1]; ok {
			t.Fatalf("synced %t: the first segment is still there", synced)
		}
		mustRead(t, s2, keys[0], body(keys[0], 300))
		s2.Close()
	}
}

// TestTouchedSegmentKept: a Put of a key the store holds, after a Pin that
// did not find it referenced (an entry applied again after a restart),
// keeps its segment from that Pin's deletions and compaction.
func TestTouchedSegmentKept(t *testing.T) {
	s := open(t, t.TempDir(), 4096)
	keys := putMany(t, s, 1, 40, 300)
	p := s.Pin(func(yield func(Key)) { yield(keys[0]) })       // segment 1 sparse, 2 and 3 unreferenced
	if err := s.Put(keys[1], body(keys[1], 300)); err != nil { // referenced again, segment 1
		t.Fatal(err)
	}
	if err := s.Put(keys[13], body(keys[13], 300)); err != nil { // segment 2
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUnpinned(p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Compact(p); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 13} {
		mustRead(t, s, keys[i], body(keys[i], 300))
	}
	if _, ok := s.segs[3]; ok {
		t.Fatal("untouched unreferenced segment 3 kept")
	}
}

// TestReadsRaceCompaction: readers of long-lived bodies, while puts,
// snapshots, copies and deletions go on, always read the body put (run it
// with -race).
func TestReadsRaceCompaction(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 8192)
	var live []Key
	for i := range 20 {
		k := Key{Index: uint64(i + 1), Position: 1}
		if err := s.Put(k, body(k, 500)); err != nil {
			t.Fatal(err)
		}
		live = append(live, k)
		putMany(t, s, 1000*(i+1), 30, 500)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := live[i%len(live)]
				got, err := s.Read(k)
				if err == nil && !bytes.Equal(got, body(k, 500)) {
					err = errors.New("wrong body")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	moved := 0
	for round := range 30 {
		putMany(t, s, 100000+round*100, 40, 500)
		moved += snapshot(t, s, live)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if moved < len(live) {
		t.Fatalf("%d bodies copied, want every live one at least once", moved)
	}
	if st := s.Stats(); st.Segments > 6 {
		t.Fatalf("%+v: sparse segments kept", st)
	}
}
