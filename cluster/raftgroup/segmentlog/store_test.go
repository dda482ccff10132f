package segmentlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// entry returns a log entry whose data names its index and term, size
// bytes long (at least the name).
func entry(index, term uint64, size int) *raft.Log {
	d := fmt.Appendf(nil, "entry %d term %d;", index, term)
	for len(d) < size {
		d = append(d, byte('a'+len(d)%26))
	}
	return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: d,
		AppendedAt: time.Unix(1_700_000_000, int64(index)).UTC()}
}

// entries returns entries first..last of term, size bytes each.
func entries(first, last, term uint64, size int) []*raft.Log {
	var ls []*raft.Log
	for i := first; i <= last; i++ {
		ls = append(ls, entry(i, term, size))
	}
	return ls
}

func openStore(t testing.TB, dir string, segBytes int64) *Store {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: segBytes})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, s.dir, s.segBytes)
}

func mustStore(t testing.TB, s raft.LogStore, logs ...*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs [%d, %d]: %v", logs[0].Index, logs[len(logs)-1].Index, err)
	}
}

func mustDelete(t testing.TB, s raft.LogStore, min, max uint64) {
	t.Helper()
	if err := s.DeleteRange(min, max); err != nil {
		t.Fatalf("DeleteRange(%d, %d): %v", min, max, err)
	}
}

// sameLog reports how got differs from want, or "".
func sameLog(got, want *raft.Log) string {
	switch {
	case got.Index != want.Index, got.Term != want.Term, got.Type != want.Type:
		return fmt.Sprintf("entry %d/%d/%v, want %d/%d/%v", got.Index, got.Term, got.Type, want.Index, want.Term, want.Type)
	case !bytes.Equal(got.Data, want.Data), !bytes.Equal(got.Extensions, want.Extensions):
		return fmt.Sprintf("entry %d: data %q ext %q, want %q %q", got.Index, got.Data, got.Extensions, want.Data, want.Extensions)
	case !got.AppendedAt.Equal(want.AppendedAt):
		return fmt.Sprintf("entry %d: AppendedAt %v, want %v", got.Index, got.AppendedAt, want.AppendedAt)
	}
	return ""
}

// wantLog checks that s holds exactly the entries of want, in order.
func wantLog(t testing.TB, s raft.LogStore, want []*raft.Log) {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var wf, wl uint64
	if len(want) > 0 {
		wf, wl = want[0].Index, want[len(want)-1].Index
	}
	if first != wf || last != wl {
		t.Fatalf("log is [%d, %d], want [%d, %d]", first, last, wf, wl)
	}
	for _, w := range want {
		var got raft.Log
		if err := s.GetLog(w.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", w.Index, err)
		}
		if d := sameLog(&got, w); d != "" {
			t.Fatal(d)
		}
	}
	for _, i := range []uint64{wf - 1, wl + 1} {
		if i == 0 {
			continue
		}
		if err := s.GetLog(i, new(raft.Log)); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside [%d, %d]: %v, want ErrLogNotFound", i, wf, wl, err)
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestStoreAndReopen(t *testing.T) {
	s := openStore(t, t.TempDir(), 0)
	wantLog(t, s, nil)
	all := entries(1, 100, 1, 100)
	all[3].Extensions = []byte("ext")
	all[4].Type = raft.LogConfiguration
	all[5].AppendedAt = time.Time{}
	mustStore(t, s, all[0])
	mustStore(t, s, all[1:50]...)
	mustStore(t, s, all[50:]...)
	wantLog(t, s, all)
	s = reopen(t, s)
	wantLog(t, s, all)
	mustStore(t, s, entry(101, 2, 10))
	wantLog(t, s, append(all, entry(101, 2, 10)))
}

// TestRollover: segments are sealed at the size, an entry larger than a
// segment gets one of its own, and a batch may span segments.
func TestRollover(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 4096)
	var all []*raft.Log
	add := func(logs ...*raft.Log) {
		mustStore(t, s, logs...)
		all = append(all, logs...)
	}
	add(entries(1, 10, 1, 300)...)  // ~3.5 KiB: one segment
	add(entries(11, 40, 1, 300)...) // spans several
	add(entry(41, 1, 10000))        // larger than a segment
	add(entries(42, 45, 1, 100)...) // after it, a new one
	add(entry(46, 1, 20000), entry(47, 1, 5))
	wantLog(t, s, all)
	files := segmentFiles(t, dir)
	if len(files) < 6 {
		t.Fatalf("%d segments, want rollovers: %v", len(files), files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// Only a segment holding one big entry is over the size.
		if fi.Size() > 4096 {
			base, _ := parseSegmentName(filepath.Base(f))
			if base != 41 && base != 46 {
				t.Errorf("%s is %d bytes, more than a segment", f, fi.Size())
			}
		}
	}
	s = reopen(t, s)
	wantLog(t, s, all)
}

// TestHeadTruncationSurvivesReopen: compaction deletes whole segments
// below the new first index and hides the rest of a partly covered one,
// across a reopen.
func TestHeadTruncationSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 2048)
	all := entries(1, 60, 1, 200)
	mustStore(t, s, all...)
	before := len(segmentFiles(t, dir))
	mustDelete(t, s, 1, 33)
	wantLog(t, s, all[33:])
	if after := len(segmentFiles(t, dir)); after >= before {
		t.Fatalf("%d segments after compaction, %d before", after, before)
	}
	s = reopen(t, s)
	wantLog(t, s, all[33:])
	mustDelete(t, s, 34, 34)
	s = reopen(t, s)
	wantLog(t, s, all[34:])
	// Everything: the log is empty, and starts again where it is told.
	mustDelete(t, s, 35, 60)
	wantLog(t, s, nil)
	s = reopen(t, s)
	wantLog(t, s, nil)
	if got := segmentFiles(t, dir); len(got) != 0 {
		t.Fatalf("segments after deleting everything: %v", got)
	}
	mustStore(t, s, entries(61, 70, 2, 10)...)
	s = reopen(t, s)
	wantLog(t, s, entries(61, 70, 2, 10))
}

// TestTailTruncationThenRestart is the raft-wal #31 sequence: a follower's
// conflicting tail, spanning sealed segments, is deleted, the log grows
// again from there (a different term), and the store is reopened — also
// with no append in between, and with one into the emptied segment.
func TestTailTruncationThenRestart(t *testing.T) {
	for _, cut := range []uint64{2, 10, 11, 25, 39, 40} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, 2048)
			all := entries(1, 40, 1, 200)
			mustStore(t, s, all...)
			mustDelete(t, s, cut, 40)
			wantLog(t, s, all[:cut-1])
			s = reopen(t, s)
			wantLog(t, s, all[:cut-1])
			more := entries(cut, cut+30, 2, 200)
			mustStore(t, s, more[:1]...)
			s = reopen(t, s)
			mustStore(t, s, more[1:]...)
			want := append(slices.Clone(all[:cut-1]), more...)
			wantLog(t, s, want)
			s = reopen(t, s)
			wantLog(t, s, want)
			// And once more, from the middle of what was appended.
			mustDelete(t, s, cut+5, cut+30)
			s = reopen(t, s)
			wantLog(t, s, want[:cut+4])
		})
	}
}

// TestGapClearsTheLog: a StoreLogs past LastIndex+1 (raft only does that
// after installing a snapshot, when a crash came before it cleared the log)
// starts the log afresh there, durably.
func TestGapClearsTheLog(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 2048)
	mustStore(t, s, entries(1, 30, 1, 200)...)
	mustStore(t, s, entries(100, 110, 3, 50)...)
	wantLog(t, s, entries(100, 110, 3, 50))
	s = reopen(t, s)
	wantLog(t, s, entries(100, 110, 3, 50))
	if got := segmentFiles(t, dir); len(got) != 1 {
		t.Fatalf("segments %v, want the new one only", got)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	mustStore(t, s, entries(5, 20, 1, 10)...)
	for _, logs := range [][]*raft.Log{
		{entry(20, 1, 1)},                  // overwrite
		{entry(3, 1, 1)},                   // below
		{entry(21, 1, 1), entry(23, 1, 1)}, // not consecutive
	} {
		if err := s.StoreLogs(logs); !errors.Is(err, ErrNotContiguous) {
			t.Errorf("StoreLogs from %d: %v, want ErrNotContiguous", logs[0].Index, err)
		}
	}
	if err := s.DeleteRange(8, 10); !errors.Is(err, ErrMiddleRange) {
		t.Errorf("DeleteRange(8, 10): %v, want ErrMiddleRange", err)
	}
	for _, r := range [][2]uint64{{1, 4}, {21, 30}, {9, 8}} {
		mustDelete(t, s, r[0], r[1]) // outside the log: nothing to do
	}
	wantLog(t, s, entries(5, 20, 1, 10))
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.GetLog(5, new(raft.Log)); !errors.Is(err, ErrClosed) {
		t.Errorf("GetLog after Close: %v", err)
	}
	if err := s.StoreLog(entry(21, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("StoreLog after Close: %v", err)
	}
}

// TestLeftoversOfInterruptedWork: what a crash can leave between the
// steps of a creation or a deletion opens as the finished step.
func TestLeftoversOfInterruptedWork(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 2048)
	all := entries(1, 40, 1, 200)
	mustStore(t, s, all...)
	files := segmentFiles(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A segment being created (never renamed into place).
	if err := os.WriteFile(filepath.Join(dir, segmentName(41)+tmpExt), []byte("WRNSEG"), 0o640); err != nil {
		t.Fatal(err)
	}
	// A head truncation whose first-index file was written and whose
	// segments were not removed yet.
	if err := writeFirstIndex(dir, 25); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, 2048)
	wantLog(t, s, all[24:])
	if got := segmentFiles(t, dir); len(got) >= len(files) {
		t.Fatalf("segments below the first index were kept: %v", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+tmpExt)); len(m) != 0 {
		t.Fatalf("temporary files kept: %v", m)
	}
	// A clearing of the whole log, before any segment was removed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeFirstIndex(dir, 41); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, 2048)
	wantLog(t, s, nil)
	mustStore(t, s, entries(41, 42, 2, 10)...)
	s = reopen(t, s)
	wantLog(t, s, entries(41, 42, 2, 10))
}

// TestMissingSegmentIsCorrupt: a segment removed from the middle is an
// error naming the files, never a log that skips entries.
func TestMissingSegmentIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 2048)
	mustStore(t, s, entries(1, 40, 1, 200)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if err := os.Remove(files[len(files)/2]); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{SegmentBytes: 2048})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a segment missing: %v, want ErrCorrupt", err)
	}
	t.Log(err)
}
