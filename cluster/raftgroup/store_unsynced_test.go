package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// The unsynced log store models a page cache in front of a real bolt file:
// these tests run it on raft-boltdb in a temp dir and "lose power" by
// dropping the wrapper without a write-back, then reopen the file.

// neverWriteBack is a pause no test reaches: write-backs happen only when
// the test calls flush or Close.
const neverWriteBack = time.Hour

func openTestBolt(t *testing.T, path string) *raftboltdb.BoltStore {
	t.Helper()
	b, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func unsyncedEntries(from, to uint64, tag string) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: fmt.Appendf(nil, "%s%d", tag, i)})
	}
	return out
}

// wantLog fails unless s has entry index with data tag<index>.
func wantLog(t *testing.T, s raft.LogStore, index uint64, tag string) {
	t.Helper()
	var l raft.Log
	if err := s.GetLog(index, &l); err != nil {
		t.Fatalf("get %d: %v", index, err)
	}
	if want := fmt.Sprintf("%s%d", tag, index); string(l.Data) != want || l.Index != index {
		t.Fatalf("entry %d: index %d data %q, want %q", index, l.Index, l.Data, want)
	}
}

func wantBounds(t *testing.T, s raft.LogStore, first, last uint64) {
	t.Helper()
	f, err1 := s.FirstIndex()
	l, err2 := s.LastIndex()
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("first/last %d/%d, want %d/%d", f, l, first, last)
	}
}

// TestUnsyncedLogLosesWhatWasNotWrittenBack: stored entries are readable at
// once, but only those written back survive a "power loss".
func TestUnsyncedLogLosesWhatWasNotWrittenBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bolt := openTestBolt(t, path)
	s := newUnsyncedLogStoreEvery(bolt, nil, neverWriteBack, 2*neverWriteBack)
	if err := s.StoreLogs(unsyncedEntries(1, 10, "a")); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 10)
	wantLog(t, s, 7, "a")
	wantBounds(t, bolt, 0, 0) // nothing on "disk" yet
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, bolt, 1, 10)
	if err := s.StoreLog(unsyncedEntries(11, 11, "a")[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(unsyncedEntries(12, 20, "a")); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 20)
	wantLog(t, s, 15, "a")
	s.abandon() // power loss: 11..20 were acknowledged, never written back
	if err := s.StoreLogs(unsyncedEntries(21, 21, "a")); !errors.Is(err, ErrGroupClosed) {
		t.Fatalf("store after loss: %v", err)
	}
	bolt.Close()

	bolt = openTestBolt(t, path)
	wantBounds(t, bolt, 1, 10)
	wantLog(t, bolt, 10, "a")
	var l raft.Log
	if err := bolt.GetLog(11, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("entry 11 after power loss: %v", err)
	}
}

// TestUnsyncedLogCloseWritesBack: a clean shutdown loses nothing.
func TestUnsyncedLogCloseWritesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bolt := openTestBolt(t, path)
	s := newUnsyncedLogStoreEvery(bolt, nil, neverWriteBack, 2*neverWriteBack)
	if err := s.StoreLogs(unsyncedEntries(1, 50, "c")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	bolt.Close()
	bolt = openTestBolt(t, path)
	wantBounds(t, bolt, 1, 50)
	wantLog(t, bolt, 50, "c")
}

// TestUnsyncedLogTruncateConflictingTail: Raft deletes a conflicting tail
// and stores the leader's entries at the same indexes. Whether the old
// entries were written back or still pending, the new ones win, on "disk"
// too, and a later write-back does not bring the old ones back.
func TestUnsyncedLogTruncateConflictingTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bolt := openTestBolt(t, path)
	s := newUnsyncedLogStoreEvery(bolt, nil, neverWriteBack, 2*neverWriteBack)
	if err := s.StoreLogs(unsyncedEntries(1, 10, "old")); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(unsyncedEntries(11, 20, "old")); err != nil {
		t.Fatal(err)
	}
	// The tail from 8 conflicts: 8..10 are on disk, 11..20 pending.
	if err := s.DeleteRange(8, 20); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 7)
	if err := s.StoreLogs(unsyncedEntries(8, 12, "new")); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 12)
	wantLog(t, s, 9, "new")
	wantLog(t, s, 12, "new")
	wantLog(t, s, 7, "old")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bolt.Close()
	bolt = openTestBolt(t, path)
	wantBounds(t, bolt, 1, 12)
	wantLog(t, bolt, 7, "old")
	wantLog(t, bolt, 8, "new")
	wantLog(t, bolt, 12, "new")
}

// TestUnsyncedLogCompactionKeepsPending: compaction deletes a written-back
// head while newer entries are still pending.
func TestUnsyncedLogCompactionKeepsPending(t *testing.T) {
	bolt := openTestBolt(t, filepath.Join(t.TempDir(), "raft.db"))
	s := newUnsyncedLogStoreEvery(bolt, nil, neverWriteBack, 2*neverWriteBack)
	defer s.Close()
	if err := s.StoreLogs(unsyncedEntries(1, 10, "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(unsyncedEntries(11, 15, "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 12); err != nil { // reaches into pending
		t.Fatal(err)
	}
	wantBounds(t, s, 13, 15)
	var l raft.Log
	if err := s.GetLog(11, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("compacted entry 11: %v", err)
	}
	// After a snapshot install the log may restart past a gap.
	if err := s.StoreLogs(unsyncedEntries(40, 41, "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(unsyncedEntries(30, 30, "x")); err != nil { // out of order
		t.Fatal(err)
	}
	wantBounds(t, s, 13, 41)
	wantLog(t, s, 30, "x")
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, bolt, 13, 41)
}

// TestUnsyncedLogConcurrentWriteBack: with fast write-backs racing a writer
// and readers, every stored entry stays readable all the time and all of
// them are on disk after Close.
func TestUnsyncedLogConcurrentWriteBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	bolt := openTestBolt(t, path)
	s := newUnsyncedLogStoreEvery(bolt, nil, time.Millisecond, 3*time.Millisecond)
	const batches, per = 200, 10
	var (
		mu     sync.Mutex
		stored uint64
	)
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range uint64(batches) {
			if err := s.StoreLogs(unsyncedEntries(b*per+1, (b+1)*per, "w")); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			stored = (b + 1) * per
			mu.Unlock()
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				n := stored
				mu.Unlock()
				for i := uint64(1); i <= n; i += 7 {
					var l raft.Log
					if err := s.GetLog(i, &l); err != nil || string(l.Data) != fmt.Sprintf("w%d", i) {
						errs <- fmt.Errorf("entry %d of %d: %q, %v", i, n, l.Data, err)
						return
					}
				}
				if last, err := s.LastIndex(); err != nil || last < n {
					errs <- fmt.Errorf("last index %d < stored %d (%v)", last, n, err)
					return
				}
				if n == batches*per {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bolt.Close()
	bolt = openTestBolt(t, path)
	wantBounds(t, bolt, 1, batches*per)
	for i := uint64(1); i <= batches*per; i += 13 {
		wantLog(t, bolt, i, "w")
	}
}

// TestGroupUnsafeUnsyncedLog: a Raft group on the unsynced log works as
// usual and, shut down cleanly, restarts with every entry.
func TestGroupUnsafeUnsyncedLog(t *testing.T) {
	dir := t.TempDir()
	m := newTestMux(t, raftTestLogger(t, "mux"))
	open := func(f raft.FSM) *Group {
		g, err := Open(Options{
			Name: "q0", NodeID: "n1", DataDir: dir, FSM: f, Layer: m.Layer("q0"),
			Config: testConfig(), Logger: raftTestLogger(t, "n1"), Bootstrap: true,
			UnsafeUnsyncedLog: true,
		})
		if err != nil {
			t.Fatalf("open group: %v", err)
		}
		shutdownOnCleanup(t, g)
		return g
	}
	f := &listFSM{}
	g := open(f)
	if g.stores.unsynced == nil {
		t.Fatal("UnsafeUnsyncedLog did not put the unsynced store in front of the log")
	}
	waitGroupLeader(t, g)
	checkAppliedInOrder(t, proposeConcurrently(g, "u", 50), f.list())
	want := f.list()
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	f2 := &listFSM{}
	g2 := open(f2)
	waitGroupLeader(t, g2)
	eventually(t, 5*time.Second, func() error { return f2.hasEntries(want) })
	if _, _, err := Propose[string](context.Background(), g2, []byte("after")); err != nil {
		t.Fatal(err)
	}
}
