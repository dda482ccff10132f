package raftgroup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// openWithStore opens group q0 in dir as a bootstrapped single voter on its
// log store ls (with fsync: the wal store has no NoSync).
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

// TestWALStoreProposeAndRestart: a group on the wal store keeps its log
// across a restart (auto opens the wal it finds), with and without the
// unsynced fault-injection wrapper, and writes no raft.db.
func TestWALStoreProposeAndRestart(t *testing.T) {
	for _, unsynced := range []bool{false, true} {
		t.Run(map[bool]string{false: "synced", true: "unsynced"}[unsynced], func(t *testing.T) {
			dir := t.TempDir()
			m := newTestMux(t, raftTestLogger(t, "mux"))
			f := &listFSM{}
			g, err := openWithStore(t, m, dir, LogStoreWAL, f, unsynced)
			if err != nil {
				t.Fatal(err)
			}
			waitGroupLeader(t, g)
			ps := proposeConcurrently(g, "m", 50)
			checkAppliedInOrder(t, ps, f.list())
			if err := g.Shutdown(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(Dir(dir, "q0"), raftDBFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("wal group has a %s: %v", raftDBFileName, err)
			}
			f2 := &listFSM{}
			g2, err := openWithStore(t, m, dir, LogStoreAuto, f2, unsynced)
			if err != nil {
				t.Fatal(err)
			}
			waitGroupLeader(t, g2)
			eventually(t, 5*time.Second, func() error { return f2.hasEntries(f.list()) })
			if _, _, err := Propose[string](context.Background(), g2, []byte("after")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLogStoreMismatchRefused: a group directory written by one store is
// never opened by the other; the error names the option to use.
func TestLogStoreMismatchRefused(t *testing.T) {
	for _, tc := range []struct{ wrote, asked LogStore }{{LogStoreBolt, LogStoreWAL}, {LogStoreWAL, LogStoreBolt}} {
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

// TestWALStoreSecondOpenFails: a second open of a wal group's directory
// (another process on the same data dir) fails within the lock timeout
// instead of waiting forever on wal-meta.db's bolt lock.
func TestWALStoreSecondOpenFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := lockDir(filepath.Join(dir, walLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if _, err := lockDir(filepath.Join(dir, walLockName)); err == nil {
		t.Fatal("second lock succeeded")
	}
	if d := time.Since(start); d > scaled(5*time.Second) {
		t.Fatalf("second lock failed after %v", d)
	}
}
