package raftgroup

import (
	"encoding/json"
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

// retryFor calls f every 20 ms until it returns nil or the scaled timeout
// passes, and returns f's last error then. It may run on any goroutine.
func retryFor(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(scaled(timeout))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %v: %w", scaled(timeout), err)
		}
		<-tick.C
	}
}

// eventually is retryFor that fails the test; call it from the test goroutine.
func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := retryFor(timeout, f); err != nil {
		t.Fatal(err)
	}
}

// testConfig is FastConfig with its timeouts multiplied by
// WARREN_TEST_TIMEOUT_SCALE, so a slow CI machine gets longer leases too.
func testConfig() Config {
	c := FastConfig()
	c.HeartbeatTimeout = scaled(c.HeartbeatTimeout)
	c.ElectionTimeout = scaled(c.ElectionTimeout)
	c.LeaderLeaseTimeout = scaled(c.LeaderLeaseTimeout)
	return c
}

// raftTestLogger logs into t.Log at WARREN_TEST_LOG_LEVEL (default warn). Raft
// goroutines can outlive the test by a moment (the transport's connection
// handlers are not awaited), so writes after the test are dropped rather
// than panicking in t.Log.
func raftTestLogger(t testing.TB, name string) hclog.Logger {
	w := &raftTestWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs last
	level := hclog.LevelFromString(os.Getenv("WARREN_TEST_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, Level: level})
}

type raftTestWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *raftTestWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-min(1, len(p))]))
	}
	return len(p), nil
}

func (w *raftTestWriter) stop() {
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

// listFSM is an append-only list of distinct strings. Apply returns
// "<n>:<data>", n being the 1-based position of data in the list; data
// already in the list is not appended again, which makes proposals
// idempotent, so tests may retry after ErrOutcomeUnknown as Warren's
// clients do with publish ids.
type listFSM struct {
	mu       sync.Mutex
	entries  []string
	pos      map[string]int
	restores int
}

func (f *listFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data := string(l.Data)
	if f.pos == nil {
		f.pos = map[string]int{}
	}
	n, ok := f.pos[data]
	if !ok {
		f.entries = append(f.entries, data)
		n = len(f.entries)
		f.pos[data] = n
	}
	return fmt.Sprintf("%d:%s", n, data)
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
	f.pos = make(map[string]int, len(entries))
	for i, e := range entries {
		f.pos[e] = i + 1
	}
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
		return fmt.Errorf("fsm has %d entries %q, want %d", len(got), lastFew(got), len(want))
	}
	return nil
}

func lastFew(s []string) []string {
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

// waitGroupLeader waits until g leads its group.
func waitGroupLeader(t testing.TB, g *Group) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if !g.IsLeader() {
			return fmt.Errorf("group %s: state %s, not leader", g.Name(), g.raft.State())
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
