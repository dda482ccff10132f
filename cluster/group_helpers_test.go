package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves goroutines behind: every Group
// and Mux a test opens must be shut down by its cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// timeoutScale multiplies every test timeout (WARREN_TEST_TIMEOUT_SCALE,
// default 1; CI sets 4).
func timeoutScale() float64 {
	if v := os.Getenv("WARREN_TEST_TIMEOUT_SCALE"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return f
		}
	}
	return 1
}

func scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * timeoutScale()) }

// eventually polls f every 20 ms until it returns nil, and fails the test
// with f's last error if that takes longer than the scaled timeout.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(scaled(timeout))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", scaled(timeout), err)
		}
		<-tick.C
	}
}

// testLogger logs into t.Log at WARREN_TEST_LOG_LEVEL (default warn). Raft
// goroutines can outlive the test by a moment (the transport's connection
// handlers are not awaited), so writes after the test are dropped rather
// than panicking in t.Log.
func testLogger(t testing.TB, name string) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs last
	level := hclog.LevelFromString(os.Getenv("WARREN_TEST_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, Level: level})
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-min(1, len(p))]))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// newTestMux serves a Mux on a fresh 127.0.0.1 port until the test ends.
func newTestMux(t testing.TB, logger hclog.Logger) *Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, logger)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("mux close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("mux serve: %v", err)
		}
	})
	return m
}

// listFSM is an append-only list of strings. Apply returns "<n>:<data>",
// n being the entry's 1-based position in the list.
type listFSM struct {
	mu       sync.Mutex
	entries  []string
	restores int
}

func (f *listFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, string(l.Data))
	return fmt.Sprintf("%d:%s", len(f.entries), l.Data)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return listSnapshot(slices.Clone(f.entries)), nil
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var entries []string
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = entries
	f.restores++
	return nil
}

func (f *listFSM) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

func (f *listFSM) restoreCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores
}

// hasEntries reports whether the list equals want.
func (f *listFSM) hasEntries(want []string) error {
	if got := f.list(); !slices.Equal(got, want) {
		return fmt.Errorf("fsm has %d entries %q, want %d", len(got), clip(got), len(want))
	}
	return nil
}

func clip(s []string) []string {
	if len(s) > 5 {
		return s[len(s)-5:]
	}
	return s
}

type listSnapshot []string

func (s listSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode([]string(s)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s listSnapshot) Release() {}

// batchingListFSM is listFSM applying in batches, to cover the
// raft.BatchingFSM path of the wrapper.
type batchingListFSM struct {
	listFSM
	batches int
}

func (f *batchingListFSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	f.mu.Lock()
	f.batches++
	f.mu.Unlock()
	return out
}

// leadershipLog records OnLeadership calls.
type leadershipLog struct {
	mu    sync.Mutex
	calls []bool
}

func (l *leadershipLog) record(isLeader bool) {
	l.mu.Lock()
	l.calls = append(l.calls, isLeader)
	l.mu.Unlock()
}

func (l *leadershipLog) get() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// waitLeader waits until g leads its group.
func waitLeader(t testing.TB, g *Group) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if !g.IsLeader() {
			return fmt.Errorf("group %s: state %s, not leader", g.Name(), g.Raft().State())
		}
		return nil
	})
}

// shutdownOnCleanup shuts g down when the test ends (Shutdown is
// idempotent, so tests may also shut it down earlier).
func shutdownOnCleanup(t testing.TB, g *Group) {
	t.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", g.Name(), err)
		}
	})
}

var errNotYet = errors.New("not yet")
