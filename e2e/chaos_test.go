package e2e_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/chaos"
	"github.com/warrenmq/warren/transport/transporttest"
)

// The chaos tests run `warren chaos run`'s harness (package chaos) against
// real warren-node processes: producers with confirms and consumers with
// manual acks while a seeded schedule kills, pauses, partitions or
// power-cycles nodes; then everything is healed, every queue drained, and
// the history checked. Seeds are fixed so a failure replays with the same
// faults (`warren chaos run --seed N ...` with the same options).

// chaosOptions are the options every chaos test starts from.
func chaosOptions(t *testing.T, seed int64, d time.Duration, faults ...chaos.Fault) chaos.Options {
	return chaos.Options{
		Nodes:         3,
		NodeBinary:    nodeBinary,
		DataDir:       keptOnFailure(t),
		Duration:      d,
		Faults:        faults,
		Seed:          seed,
		FaultDuration: 3 * time.Second,
		Quiet:         4 * time.Second,
		Rate:          150,
		TimeoutScale:  float64(transporttest.TimeoutScale()),
		Log:           &testLog{t: t},
	}
}

// runChaos runs one chaos run, logs its result table, and on failure the
// tail of every node's log.
func runChaos(t *testing.T, o chaos.Options) *chaos.Result {
	t.Helper()
	ctx := testCtx(t, o.Duration+6*time.Minute)
	res, err := chaos.Run(ctx, o)
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("result:\n%s", b.String())
	t.Cleanup(func() {
		if t.Failed() {
			logNodeTails(t, o.DataDir)
		}
	})
	return res
}

// wantSafe fails unless the run lost nothing, delivered nothing
// unexpected, confirmed something, injected faults and healed them all.
func wantSafe(t *testing.T, res *chaos.Result, kinds ...chaos.Fault) {
	t.Helper()
	r := res.Report
	if r.Lost != 0 || r.Unexpected != 0 {
		t.Errorf("lost %d (%v), unexpected %d (%v)", r.Lost, r.LostIDs, r.Unexpected, r.UnexpectedIDs)
	}
	if r.Confirmed == 0 || r.Delivered == 0 {
		t.Errorf("confirmed %d, delivered %d: the workload did nothing", r.Confirmed, r.Delivered)
	}
	if r.Faults == 0 || len(res.Injected) == 0 {
		t.Error("no fault was injected")
	}
	for _, e := range res.Errors {
		t.Errorf("harness: %s", e)
	}
	injected := map[chaos.Fault]int{}
	for _, f := range res.Injected {
		injected[f.Step.Kind]++
		if f.Error != "" {
			t.Errorf("fault %q: %s", f.Name, f.Error)
		}
	}
	for _, k := range kinds {
		if injected[k] == 0 {
			t.Errorf("no %s fault was injected (%v)", k, injected)
		}
	}
	for _, k := range res.NotRun {
		t.Errorf("%s did not run: %s", k.Kind, k.Reason)
	}
	if n := r.OrderViolations["chaos-ordered"]; n != 0 {
		t.Errorf("%d order violations on the ordered queue (%v)", n, r.OrderIDs)
	}
}

// TestChaosKillAndPause: a minute of kill -9 (a random node, a queue's
// leader) and SIGSTOP/SIGCONT (a node or a leader) on three nodes loses
// no confirmed message and delivers nothing that was not published. Seed
// 19 draws pause, kill-leader and kill as its first three faults.
func TestChaosKillAndPause(t *testing.T) {
	slow(t)
	o := chaosOptions(t, 19, time.Minute, chaos.Kill, chaos.KillLeader, chaos.Pause)
	res := runChaos(t, o)
	wantSafe(t, res, chaos.Kill, chaos.KillLeader, chaos.Pause)
}

// TestChaosReportsKindsNotRun (issue 10, first hour 8): a run too short
// for every requested kind says, for each kind it did not inject, why —
// and every other kind ran. 12 s with a mean hold of 1 s and quiet of 2 s
// fits three or four of the five kinds at most, fewer once restarts take
// their time.
func TestChaosReportsKindsNotRun(t *testing.T) {
	slow(t)
	kinds := []chaos.Fault{chaos.Kill, chaos.KillLeader, chaos.KillMinority, chaos.Pause, chaos.PowerLoss}
	o := chaosOptions(t, 3, 12*time.Second, kinds...)
	o.FaultDuration, o.Quiet = time.Second, 2*time.Second
	res := runChaos(t, o)
	injected := map[chaos.Fault]bool{}
	for _, f := range res.Injected {
		injected[f.Step.Kind] = true
	}
	notRun := map[chaos.Fault]string{}
	for _, k := range res.NotRun {
		notRun[k.Kind] = k.Reason
	}
	for _, k := range kinds {
		switch {
		case injected[k] && notRun[k] != "":
			t.Errorf("%s ran and is reported as not run: %s", k, notRun[k])
		case !injected[k] && notRun[k] == "":
			t.Errorf("%s did not run and the report does not say why", k)
		}
	}
	if len(res.NotRun) == 0 {
		t.Fatalf("every kind ran in 12 s (%d faults): the test needs a shorter run", len(res.Injected))
	}
	var b bytes.Buffer
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "NOT RUN  "); got != len(res.NotRun) {
		t.Errorf("the table has %d NOT RUN lines, want %d", got, len(res.NotRun))
	}
	if r := res.Report; r.Lost != 0 || r.Unexpected != 0 {
		t.Errorf("lost %d, unexpected %d", r.Lost, r.Unexpected)
	}
}

// TestChaosPowerLoss: every node killed at once, again and again, while
// producers publish: with fsync before confirm nothing confirmed is lost.
func TestChaosPowerLoss(t *testing.T) {
	slow(t)
	o := chaosOptions(t, 1, 25*time.Second, chaos.PowerLoss)
	o.FaultDuration, o.Quiet, o.Rate = time.Second, 3*time.Second, 400
	res := runChaos(t, o)
	wantSafe(t, res, chaos.PowerLoss)
}

// TestChaosPowerLossWithoutFsyncLoses is the control of TestChaosPowerLoss:
// the same faults on nodes that confirm before fsync
// (--unsafe-ack-before-fsync: the log is written back every 100–300 ms)
// lose confirmed messages, and the checker sees it. The backlog queue is
// consumed only at the end, so what the power loss takes from it cannot
// have been delivered before. A run loses messages when a power loss hits
// while unflushed entries are confirmed, which at 400 messages/s is nearly
// every time; the test allows three runs.
func TestChaosPowerLossWithoutFsyncLoses(t *testing.T) {
	slow(t)
	const runs = 3
	for i := range runs {
		o := chaosOptions(t, int64(100+i), 25*time.Second, chaos.PowerLoss)
		o.FaultDuration, o.Quiet, o.Rate = time.Second, 3*time.Second, 400
		o.UnsafeAckBeforeFsync = true
		res := runChaos(t, o)
		if len(res.Injected) == 0 || res.Report.Confirmed == 0 {
			t.Fatalf("run %d injected %d faults and confirmed %d messages", i+1, len(res.Injected), res.Report.Confirmed)
		}
		if res.Report.Lost > 0 {
			t.Logf("run %d (seed %d): %d confirmed messages lost, e.g. %v", i+1, o.Seed, res.Report.Lost, res.Report.LostIDs)
			return
		}
		t.Logf("run %d (seed %d) lost nothing; trying again", i+1, o.Seed)
	}
	t.Fatalf("%d runs with --unsafe-ack-before-fsync and power losses lost nothing: the fault or the checker is blind", runs)
}

// TestChaosPartition: nodes in network namespaces, one isolated (a random
// one, or a queue's leader) or a majority ring (n1 and n2 cut apart, n3
// seeing both), lose no confirmed message. Needs root (netlab). Seed 4
// draws an isolated leader, an isolated node and a ring first.
func TestChaosPartition(t *testing.T) {
	slow(t)
	if err := chaos.PartitionsAvailable(); err != nil {
		t.Skipf("partitions need network namespaces: %v", err)
	}
	o := chaosOptions(t, 4, 40*time.Second, chaos.Partition)
	res := runChaos(t, o)
	wantSafe(t, res, chaos.Partition)
	var ring, isolated bool
	for _, f := range res.Injected {
		ring = ring || strings.Contains(f.Name, "ring")
		isolated = isolated || !strings.Contains(f.Name, "ring")
	}
	if !ring || !isolated {
		t.Errorf("want both an isolated node and a ring among %d partitions", len(res.Injected))
	}
}

// keptOnFailure returns a new directory that is removed after the test
// unless it failed: the node logs and history.json of a failed run are
// evidence.
func keptOnFailure(t *testing.T) string {
	dir, err := os.MkdirTemp("", "warren-chaos-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos data kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// testLog writes the harness's progress lines to the test log.
type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logNodeTails logs the last lines of every node's log in dataDir.
func logNodeTails(t *testing.T, dataDir string) {
	logs, _ := filepath.Glob(filepath.Join(dataDir, "n*.log"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Logf("%s (last 40 lines):\n%s", filepath.Base(p), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

// TestFailoverBench runs `warren bench failover`'s harness for one trial of
// each fault: the leader is found, killed (paused), replaced, and a
// message published after the fault is confirmed and delivered; the node
// comes back. The benchmark's figures are not checked here, only that each
// trial measured them.
func TestFailoverBench(t *testing.T) {
	slow(t)
	for _, fault := range []chaos.FailoverFault{chaos.FailoverKill, chaos.FailoverPause} {
		t.Run(string(fault), func(t *testing.T) {
			res, err := chaos.Failover(testCtx(t, 5*time.Minute), chaos.FailoverOptions{
				Trials: 1, Fault: fault, NodeBinary: nodeBinary, DataDir: keptOnFailure(t),
				Wait: scaled(60 * time.Second), TimeoutScale: float64(transporttest.TimeoutScale()), Log: &testLog{t: t},
			})
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Trials[0]
			if tr.Error != "" || tr.FirstConfirm < 0 || tr.FirstDelivery < 0 || tr.Elected < 0 || tr.NewLeader == "" || tr.NewLeader == tr.Leader {
				t.Errorf("trial %+v", tr)
			}
		})
	}
}

// TestChaosAMQP: the same workload over AMQP 0-9-1 (amqp091-go on every
// node's AMQP port, reconnecting through the other nodes' addresses) under
// kill -9 of a node and of a queue's leader: nothing confirmed is lost,
// nothing unexpected delivered, the ordered queue stays in order. The
// drain consumes with the SDK, so what AMQP published, gRPC reads.
func TestChaosAMQP(t *testing.T) {
	slow(t)
	o := chaosOptions(t, 19, 30*time.Second, chaos.Kill, chaos.KillLeader)
	o.Protocol = "amqp"
	res := runChaos(t, o)
	wantSafe(t, res)
}
