package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup/segmentlog"
)

// openWithStore opens group q0 in dir as a bootstrapped single voter on its
// log store ls (with fsync: the segment store has no NoSync).
func openWithStore(t *testing.T, m *Mux, dir string, ls LogStore, f raft.FSM, unsynced bool) (*Group, error) {
	t.Helper()
	g, err := Open(Options{
		Name: "q0", NodeID: "n1", DataDir: dir, FSM: f, Layer: m.Layer("q0"),
		Config: testConfig(), Logger: raftTestLogger(t, "n1"), Bootstrap: true,
		LogStore: ls, UnsafeUnsyncedLog: unsynced,
	})
	if err == nil {
		shutdownOnCleanup(t, g)
	}
	return g, err
}

// TestSegmentStoreProposeAndRestart: a group on the segment store keeps
// its log across a restart (auto opens the store it finds), with and
// without the unsynced fault-injection wrapper, and writes no raft.db;
// raft sees the store as monotonic through the wrappers.
func TestSegmentStoreProposeAndRestart(t *testing.T) {
	for _, unsynced := range []bool{false, true} {
		t.Run(map[bool]string{false: "synced", true: "unsynced"}[unsynced], func(t *testing.T) {
			dir := t.TempDir()
			m := newTestMux(t, raftTestLogger(t, "mux"))
			f := &listFSM{}
			g, err := openWithStore(t, m, dir, LogStoreSegment, f, unsynced)
			if err != nil {
				t.Fatal(err)
			}
			if ml, ok := g.stores.logs.(raft.MonotonicLogStore); !ok || !ml.IsMonotonic() {
				t.Fatal("the segment store is not monotonic behind the cache and wrappers")
			}
			waitGroupLeader(t, g)
			ps := proposeConcurrently(g, "m", 50)
			checkAppliedInOrder(t, ps, f.list())
			if err := g.Shutdown(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(Dir(dir, "q0"), raftDBFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("segment group has a %s: %v", raftDBFileName, err)
			}
			f2 := &listFSM{}
			g2, err := openWithStore(t, m, dir, LogStoreAuto, f2, unsynced)
			if err != nil {
				t.Fatal(err)
			}
			if g2.stores.kind != LogStoreSegment {
				t.Fatalf("auto opened %s", g2.stores.kind)
			}
			waitGroupLeader(t, g2)
			eventually(t, 5*time.Second, func() error { return f2.hasEntries(f.list()) })
			if _, _, err := Propose[string](context.Background(), g2, []byte("after")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDefaultLogStoreForNewGroups: auto creates DefaultLogStore, segment.
func TestDefaultLogStoreForNewGroups(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	g, err := openWithStore(t, m, t.TempDir(), LogStoreAuto, &listFSM{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if g.stores.kind != DefaultLogStore || DefaultLogStore != LogStoreSegment {
		t.Fatalf("a new group's store is %s, default %s", g.stores.kind, DefaultLogStore)
	}
}

// TestLogStoreMismatchRefused: a group directory written by one store is
// never opened by the other; the error names the option to use.
func TestLogStoreMismatchRefused(t *testing.T) {
	for _, tc := range []struct{ wrote, asked LogStore }{{LogStoreBolt, LogStoreSegment}, {LogStoreSegment, LogStoreBolt}} {
		t.Run(string(tc.wrote), func(t *testing.T) {
			dir := t.TempDir()
			m := newTestMux(t, raftTestLogger(t, "mux"))
			g, err := openWithStore(t, m, dir, tc.wrote, &listFSM{}, false)
			if err != nil {
				t.Fatal(err)
			}
			waitGroupLeader(t, g)
			if err := g.Shutdown(); err != nil {
				t.Fatal(err)
			}
			_, err = openWithStore(t, m, dir, tc.asked, &listFSM{}, false)
			if !errors.Is(err, ErrLogStoreMismatch) || !strings.Contains(err.Error(), "--log-store "+string(tc.wrote)) {
				t.Fatalf("open %s dir as %s: %v, want ErrLogStoreMismatch naming --log-store %s", tc.wrote, tc.asked, err, tc.wrote)
			}
			// auto keeps what the directory holds.
			g2, err := openWithStore(t, m, dir, LogStoreAuto, &listFSM{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if g2.stores.kind != tc.wrote {
				t.Fatalf("auto opened %s, the dir holds %s", g2.stores.kind, tc.wrote)
			}
		})
	}
}

// TestOldRaftWALRefused: a group directory holding raft-wal's wal/ (the
// removed --log-store wal) is refused with what to do, whatever store is
// asked for, and "wal" is no longer a store name.
func TestOldRaftWALRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(Dir(dir, "q0"), oldWALDirName), 0o750); err != nil {
		t.Fatal(err)
	}
	m := newTestMux(t, raftTestLogger(t, "mux"))
	for _, ls := range []LogStore{LogStoreAuto, LogStoreBolt, LogStoreSegment} {
		_, err := openWithStore(t, m, dir, ls, &listFSM{}, false)
		if !errors.Is(err, ErrLogStoreMismatch) || !strings.Contains(err.Error(), "raft-wal") || !strings.Contains(err.Error(), "empty data directory") {
			t.Fatalf("open a raft-wal dir as %q: %v", ls, err)
		}
	}
	if _, err := ParseLogStore("wal"); err == nil || !strings.Contains(err.Error(), "use segment") {
		t.Fatalf(`ParseLogStore("wal"): %v`, err)
	}
}

// TestSegmentStoreSecondOpenFails: a second open of a segment group's
// stores (another process on the same data dir) fails within the lock
// timeout instead of waiting.
func TestSegmentStoreSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	logger := raftTestLogger(t, "n1")
	s, err := openStores(dir, LogStoreSegment, false, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	start := time.Now()
	if s2, err := openStores(dir, LogStoreSegment, false, false, logger); err == nil {
		_ = s2.close()
		t.Fatal("second open succeeded")
	}
	if d := time.Since(start); d > scaled(5*time.Second) {
		t.Fatalf("second open failed after %v", d)
	}
	// The log itself is locked too, for whoever opens it directly.
	if _, err := segmentlog.Open(filepath.Join(dir, segmentDirName), segmentlog.Options{}); !errors.Is(err, segmentlog.ErrLocked) {
		t.Fatalf("open the locked segment dir: %v", err)
	}
}

// TestSegmentStoreFollowerCatchesUpFromSnapshot: three nodes on the
// segment store; a follower that was down while the leader compacted its
// log past the follower's end gets a snapshot, and raft then clears the
// follower's log (removeOldLogs: the store is monotonic) and appends after
// the snapshot. The follower restarts on that log, and a compaction on
// every node keeps their logs readable across a restart.
func TestSegmentStoreFollowerCatchesUpFromSnapshot(t *testing.T) {
	cfg := testConfig()
	cfg.SnapshotThreshold, cfg.TrailingLogs = 8, 16
	nodes := newGroupNodes(t, 3)
	var servers []raft.Server
	for _, n := range nodes {
		n.logStore, n.config = LogStoreSegment, &cfg
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: n.addr()})
	}
	const name = "q0"
	for i, n := range nodes {
		n.open(t, name, i == 0, servers)
	}
	leader := waitAgreedGroupLeader(t, nodes, name)
	propose := func(prefix string, count int) {
		t.Helper()
		for i := range count {
			if _, err := proposeOnGroupLeader(nodes, name, fmt.Sprint(prefix, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	propose("a", 10)
	waitGroupConverged(t, nodes, name)
	var down *groupNode
	for _, n := range nodes {
		if n != leader {
			down = n
		}
	}
	followerLast, _ := down.groups[name].stores.logs.LastIndex()
	if err := down.groups[name].Shutdown(); err != nil {
		t.Fatal(err)
	}
	propose("b", 60)
	leader = waitAgreedGroupLeader(t, nodes, name)
	if err := leader.groups[name].raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if first, _ := leader.groups[name].stores.logs.FirstIndex(); first <= followerLast+1 {
		t.Fatalf("leader's log starts at %d, not past the follower's end %d", first, followerLast)
	}
	down.open(t, name, false, nil)
	propose("c", 5)
	waitGroupConverged(t, nodes, name)
	if n := down.fsms[name].restoreCount(); n == 0 {
		t.Fatal("the follower caught up without a snapshot")
	}
	if first, _ := down.groups[name].stores.logs.FirstIndex(); first <= followerLast {
		t.Fatalf("follower's log still starts at %d after installing a snapshot", first)
	}
	// Restart the follower on the log it has now, then every node.
	if err := down.groups[name].Shutdown(); err != nil {
		t.Fatal(err)
	}
	down.open(t, name, false, nil)
	propose("d", 5)
	want := waitGroupConverged(t, nodes, name)
	for _, n := range nodes {
		if err := n.groups[name].Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.open(t, name, false, nil)
	}
	propose("e", 1)
	if got := waitGroupConverged(t, nodes, name); len(got) != len(want)+1 {
		t.Fatalf("after restarting every node: %d entries, want %d", len(got), len(want)+1)
	}
}
