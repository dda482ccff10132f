package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// openSingleVoter opens group name on mux as a bootstrapped single voter.
func openSingleVoter(t *testing.T, m *Mux, dir, name string, f raft.FSM, onGroupLeader func(bool)) *Group {
	t.Helper()
	g, err := Open(Options{
		Name: name, NodeID: "n1", DataDir: dir, FSM: f, Layer: m.Layer(name),
		Config: testConfig(), Logger: raftTestLogger(t, "n1"), Bootstrap: true,
		OnLeadership: onGroupLeader, NoSync: true,
	})
	if err != nil {
		t.Fatalf("open group: %v", err)
	}
	shutdownOnCleanup(t, g)
	return g
}

type groupProposal struct {
	data  string
	resp  any
	index uint64
	err   error
}

// proposeConcurrently proposes n entries "<prefix><i>" from n goroutines.
func proposeConcurrently(g *Group, prefix string, n int) []groupProposal {
	out := make([]groupProposal, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := fmt.Sprintf("%s%d", prefix, i)
			resp, idx, err := Propose[string](context.Background(), g, []byte(data))
			out[i] = groupProposal{data, resp, idx, err}
		}()
	}
	wg.Wait()
	return out
}

// checkAppliedInOrder checks that every proposal succeeded, that the FSM holds
// the data in log order, and that each response names its position.
func checkAppliedInOrder(t *testing.T, ps []groupProposal, entries []string) {
	t.Helper()
	for _, p := range ps {
		if p.err != nil {
			t.Fatalf("propose %s: %v", p.data, p.err)
		}
	}
	slices.SortFunc(ps, func(a, b groupProposal) int { return int(a.index) - int(b.index) })
	if len(entries) != len(ps) {
		t.Fatalf("fsm has %d entries, proposed %d", len(entries), len(ps))
	}
	for i, p := range ps {
		if i > 0 && p.index <= ps[i-1].index {
			t.Fatalf("indexes not increasing: %d after %d", p.index, ps[i-1].index)
		}
		if entries[i] != p.data {
			t.Fatalf("entry %d is %q, but the %dth index carried %q", i, entries[i], i, p.data)
		}
		if want := fmt.Sprintf("%d:%s", i+1, p.data); p.resp != want {
			t.Fatalf("response %v, want %s", p.resp, want)
		}
	}
}

func TestGroupSingleVoterProposeAndRestart(t *testing.T) {
	dir := t.TempDir()
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &listFSM{}
	var leadership leadershipLog
	g := openSingleVoter(t, m, dir, "q0", f, leadership.record)
	waitGroupLeader(t, g)
	if addr, id := g.Leader(); id != "n1" || string(addr) != m.Addr().String() {
		t.Fatalf("leader %s at %s", id, addr)
	}

	ps := proposeConcurrently(g, "m", 100)
	checkAppliedInOrder(t, ps, f.list())
	last := ps[len(ps)-1].index
	if got := g.AppliedIndex(); got != last {
		t.Fatalf("applied index %d, last groupProposal %d", got, last)
	}
	if s := g.Stats(); s["group"] != "q0" || s["state"] != "Leader" {
		t.Fatalf("stats %v", s)
	}

	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
	if got := leadership.get(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("leadership calls %v, want [true false]", got)
	}
	if _, _, err := Propose[string](context.Background(), g, []byte("late")); !errors.Is(err, ErrGroupClosed) {
		t.Fatalf("propose after shutdown: %v", err)
	}

	// Reopen with Bootstrap set again: the existing state must be used
	// (re-bootstrapping would fail with raft.ErrCantBootstrap) and the log
	// replayed into a fresh FSM.
	f2 := &listFSM{}
	g2 := openSingleVoter(t, m, dir, "q0", f2, nil)
	waitGroupLeader(t, g2)
	eventually(t, 5*time.Second, func() error { return f2.hasEntries(f.list()) })
	if n := f2.restoreCount(); n != 0 {
		t.Fatalf("%d snapshot restores, want none", n)
	}
	servers, err := g2.Configuration()
	if err != nil || len(servers) != 1 || servers[0].ID != "n1" {
		t.Fatalf("configuration %v, %v", servers, err)
	}
	_, idx, err := Propose[string](context.Background(), g2, []byte("after"))
	if err != nil || idx <= last {
		t.Fatalf("propose after restart: index %d (last %d), %v", idx, last, err)
	}
}

func TestGroupRestartFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &listFSM{}
	g := openSingleVoter(t, m, dir, "meta", f, nil)
	waitGroupLeader(t, g)
	checkAppliedInOrder(t, proposeConcurrently(g, "a", 30), f.list())

	snap := g.raft.Snapshot()
	if err := snap.Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	meta, rc, err := snap.Open()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	for i := range 5 {
		if _, _, err := Propose[string](context.Background(), g, []byte(fmt.Sprint("b", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := f.list()
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}

	f2 := &listFSM{}
	g2 := openSingleVoter(t, m, dir, "meta", f2, nil)
	// NewRaft restores the snapshot before Open returns.
	if n := f2.restoreCount(); n != 1 {
		t.Fatalf("%d restores, want 1", n)
	}
	if err := f2.hasEntries(want[:30]); err != nil {
		t.Fatalf("after restore: %v", err)
	}
	if got := g2.AppliedIndex(); got != meta.Index {
		t.Fatalf("applied index after restore %d, snapshot index %d", got, meta.Index)
	}
	waitGroupLeader(t, g2)
	eventually(t, 5*time.Second, func() error { return f2.hasEntries(want) })
}

func TestGroupBatchingFSM(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &batchingListFSM{}
	g := openSingleVoter(t, m, t.TempDir(), "q1", f, nil)
	waitGroupLeader(t, g)
	ps := proposeConcurrently(g, "x", 50)
	checkAppliedInOrder(t, ps, f.list())
	f.mu.Lock()
	batches := f.batches
	f.mu.Unlock()
	if batches == 0 {
		t.Fatal("ApplyBatch never called")
	}
	if err := g.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, last := g.AppliedIndex(), ps[len(ps)-1].index; got < last {
		t.Fatalf("applied index %d < %d", got, last)
	}
}

func TestGroupProposeErrors(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &listFSM{}
	g := openSingleVoter(t, m, t.TempDir(), "q0", f, nil)
	waitGroupLeader(t, g)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Propose[string](ctx, g, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if err := g.Barrier(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("barrier with cancelled ctx: %v", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if _, _, err := Propose[string](dctx, g, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired ctx: %v", err)
	}

	if _, _, err := Propose[string](context.Background(), g, make([]byte, MaxEntrySize+1)); !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("oversized entry: %v", err)
	}
	if _, _, err := Propose[string](context.Background(), g, make([]byte, MaxEntrySize)); err != nil {
		t.Fatalf("entry of MaxEntrySize: %v", err)
	}
	if n := len(f.list()); n != 1 {
		t.Fatalf("fsm has %d entries, want only the MaxEntrySize one", n)
	}
	// A caller that expects another response type gets an error, not a
	// panic; the entry was applied all the same.
	if _, idx, err := Propose[int](context.Background(), g, []byte("typed")); !errors.Is(err, ErrUnexpectedResponse) || idx == 0 {
		t.Fatalf("propose with the wrong response type: index %d, %v", idx, err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	good := func() Options {
		return Options{Name: "q0", NodeID: "n1", DataDir: t.TempDir(), FSM: &listFSM{},
			Layer: m.Layer("q0"), Config: FastConfig()}
	}
	cases := map[string]func(o *Options){
		"empty name":       func(o *Options) { o.Name = "" },
		"path name":        func(o *Options) { o.Name = "../x" },
		"no node":          func(o *Options) { o.NodeID = "" },
		"no dir":           func(o *Options) { o.DataDir = "" },
		"no fsm":           func(o *Options) { o.FSM = nil },
		"bad config":       func(o *Options) { o.Config.MaxAppendEntries = 0 },
		"self not voter":   func(o *Options) { o.BootstrapServers = []raft.Server{{ID: "n2", Address: "x:1"}} },
		"config store fsm": func(o *Options) { o.FSM = &configStoreFSM{} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			o := good()
			mutate(&o)
			if _, err := Open(o); err == nil {
				t.Fatal("Open succeeded")
			}
			// The failed open closed the layer, so the next case can
			// register "q0" again (Layer panics on an open duplicate).
		})
	}
}

type configStoreFSM struct{ listFSM }

func (*configStoreFSM) StoreConfiguration(uint64, raft.Configuration) {}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{"default": DefaultConfig(), "fast": FastConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	cases := map[string]struct {
		mutate func(c *Config)
		want   string
	}{
		"lease above heartbeat":    {func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }, "lease"},
		"heartbeat above election": {func(c *Config) { c.HeartbeatTimeout = 2 * c.ElectionTimeout }, "exceeds election"},
		"commit above heartbeat":   {func(c *Config) { c.CommitTimeout = 2 * c.HeartbeatTimeout }, "commit timeout"},
		"threshold at trailing":    {func(c *Config) { c.SnapshotThreshold = c.TrailingLogs }, "trailing logs"},
		"too many entries":         {func(c *Config) { c.MaxAppendEntries = 1025 }, "max append entries"},
		"zero heartbeat":           {func(c *Config) { c.HeartbeatTimeout = 0 }, "heartbeat timeout 0s out of range"},
		"hour election":            {func(c *Config) { c.ElectionTimeout = time.Hour }, "election timeout"},
		"zero threshold":           {func(c *Config) { c.SnapshotThreshold = 0 }, "threshold is zero"},
	}
	for name, tc := range cases {
		c := DefaultConfig()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, tc.want)
		}
	}
}

// gateFSM blocks in Apply of the entry "slow" until gate is closed.
type gateFSM struct {
	listFSM
	entered chan struct{}
	gate    chan struct{}
}

func (f *gateFSM) Apply(l *raft.Log) any {
	if string(l.Data) == "slow" {
		close(f.entered)
		<-f.gate
	}
	return f.listFSM.Apply(l)
}

func TestGroupProposeCancelledWhileWaiting(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &gateFSM{entered: make(chan struct{}), gate: make(chan struct{})}
	g := openSingleVoter(t, m, t.TempDir(), "q0", f, nil)
	waitGroupLeader(t, g)

	// Cancel once the entry is committed and being applied: Propose
	// returns ctx.Err() at once, and the entry is applied anyway.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.entered
		cancel()
	}()
	if _, _, err := Propose[string](ctx, g, []byte("slow")); !errors.Is(err, context.Canceled) {
		t.Fatalf("propose cancelled while applying: %v", err)
	}
	close(f.gate)
	eventually(t, 5*time.Second, func() error { return f.hasEntries([]string{"slow"}) })
}

func TestMonitorLeadershipReportsEveryTransition(t *testing.T) {
	var got leadershipLog
	g := &Group{
		logger:       raftTestLogger(t, "monitor"),
		notifyCh:     make(chan bool, notifyChBuffer),
		onLeadership: got.record,
		stopMonitor:  make(chan struct{}),
		monitorDone:  make(chan struct{}),
	}
	// true, true (lost and regained unseen), false, false (no change),
	// true, then shutdown while leader.
	for _, v := range []bool{true, true, false, false, true} {
		g.notifyCh <- v
	}
	go g.monitorLeadership()
	close(g.stopMonitor)
	<-g.monitorDone
	want := []bool{true, false, true, false, true, false}
	if !slices.Equal(got.get(), want) {
		t.Fatalf("calls %v, want %v", got.get(), want)
	}
}

// TestLeaderCommitIndexEndsWithNoop: a restarted single voter's log ends
// with its new term's no-op, which the FSM never sees. LeaderCommitIndex
// reports that index as complete once committed, and CaughtUp — not the
// FSM's own index, which stays at the last command — says the node has
// applied it (the meta catch-up waited on the FSM's index and hung).
func TestLeaderCommitIndexEndsWithNoop(t *testing.T) {
	dir := t.TempDir()
	m := newTestMux(t, raftTestLogger(t, "mux"))
	g := openSingleVoter(t, m, dir, "meta", &listFSM{}, nil)
	waitGroupLeader(t, g)
	_, last, err := Propose[string](context.Background(), g, []byte("declared"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}

	f := &listFSM{}
	g = openSingleVoter(t, m, dir, "meta", f, nil)
	waitGroupLeader(t, g)
	var commit uint64
	eventually(t, 5*time.Second, func() error {
		var ok bool
		if commit, ok = g.LeaderCommitIndex(); !ok {
			return fmt.Errorf("commit index %d not known complete", commit)
		}
		if !g.CaughtUp(commit) {
			return fmt.Errorf("not caught up with %d (FSM at %d)", commit, g.AppliedIndex())
		}
		return nil
	})
	if commit <= last {
		t.Fatalf("commit index %d, want past the last command %d (the no-op)", commit, last)
	}
	if got := g.AppliedIndex(); got != last {
		t.Fatalf("FSM applied index %d, want the last command's %d", got, last)
	}
}

// TestCaughtUpWaitsForTheFSM: Raft counts an entry applied when it hands
// it to the FSM goroutine. While the FSM is still applying a fresh
// group's first command, CaughtUp of its index is false (it trusted
// Raft's index while the FSM had applied nothing, and a follower's first
// queue listing after a group's first publish counted nothing).
func TestCaughtUpWaitsForTheFSM(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	f := &gateFSM{entered: make(chan struct{}), gate: make(chan struct{})}
	g := openSingleVoter(t, m, t.TempDir(), "q0", f, nil)
	// Cleanups run last first: on a failure the gate opens before the
	// group shuts down, which waits for the FSM.
	var openGate sync.Once
	t.Cleanup(func() { openGate.Do(func() { close(f.gate) }) })
	waitGroupLeader(t, g)

	done := make(chan error, 1)
	go func() {
		_, _, err := Propose[string](context.Background(), g, []byte("slow"))
		done <- err
	}()
	<-f.entered
	index := g.raft.LastIndex()
	eventually(t, 5*time.Second, func() error {
		if got := g.raft.AppliedIndex(); got < index {
			return fmt.Errorf("raft applied index %d, want %d", got, index)
		}
		return nil
	})
	if g.CaughtUp(index) {
		t.Fatalf("CaughtUp(%d) while the FSM is still applying it (FSM index %d)", index, g.AppliedIndex())
	}
	if got := g.AppliedIndex(); got != 0 {
		t.Fatalf("AppliedIndex %d while the first command is being applied, want 0", got)
	}
	openGate.Do(func() { close(f.gate) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !g.CaughtUp(index) {
		t.Fatalf("CaughtUp(%d) false once applied (FSM index %d)", index, g.AppliedIndex())
	}
}

// indexedFSM reports a fixed index of its restored state.
type indexedFSM struct {
	listFSM
	restoredIndex uint64
}

func (f *indexedFSM) LastCommandIndex() uint64 { return f.restoredIndex }

// TestRestoreTakesTheFSMsIndex: after a Restore, the wrapper reports the
// index the FSM gives (CommandIndexer), not Raft's, which runs ahead; an
// FSM that cannot tell falls back to Raft's until its next entry.
func TestRestoreTakesTheFSMsIndex(t *testing.T) {
	snapshot := func() io.ReadCloser { return io.NopCloser(strings.NewReader(`["a","b"]`)) }

	wrapped, a, err := wrapFSM(&indexedFSM{restoredIndex: 7})
	if err != nil {
		t.Fatal(err)
	}
	a.applied.Store(3)
	if err := wrapped.Restore(snapshot()); err != nil {
		t.Fatal(err)
	}
	if got := a.applied.Load(); got != 7 || a.restoredUnknown.Load() {
		t.Fatalf("after restore: applied %d (unknown %v), want 7 known", got, a.restoredUnknown.Load())
	}

	wrapped, a, err = wrapFSM(&listFSM{})
	if err != nil {
		t.Fatal(err)
	}
	a.applied.Store(3)
	if err := wrapped.Restore(snapshot()); err != nil {
		t.Fatal(err)
	}
	if !a.restoredUnknown.Load() || a.applied.Load() != 0 {
		t.Fatalf("restore of an FSM without an index: unknown %v applied %d, want true 0", a.restoredUnknown.Load(), a.applied.Load())
	}
	wrapped.Apply(&raft.Log{Index: 9, Type: raft.LogCommand, Data: []byte("c")})
	if a.restoredUnknown.Load() || a.applied.Load() != 9 {
		t.Fatalf("after the next entry: unknown %v applied %d, want false 9", a.restoredUnknown.Load(), a.applied.Load())
	}
}

// A configuration change whose ctx ends while Raft appends it returns
// ctx's error and leaves the group working. Under -race this also checks
// that nothing reads the change's future while Raft may still write it.
func TestConfigurationChangeCancelledWhileAppending(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	g := openSingleVoter(t, m, t.TempDir(), "q0", &listFSM{}, nil)
	waitGroupLeader(t, g)

	cancelled := 0
	for i := range 40 {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		err := g.AddNonvoter(ctx, raft.ServerID(fmt.Sprintf("n%d", i+2)),
			raft.ServerAddress(fmt.Sprintf("127.0.0.1:%d", i+1)))
		switch {
		case errors.Is(err, context.Canceled):
			cancelled++
		case err != nil:
			t.Fatalf("change %d: %v, want nil or context.Canceled", i, err)
		}
	}
	t.Logf("%d of 40 changes saw their ctx end first", cancelled)
	if _, _, err := Propose[string](context.Background(), g, []byte("after")); err != nil {
		t.Fatalf("propose after the changes: %v", err)
	}
}
