package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// A backlog larger than memory (issue 11), on a real warren-node process
// keeping bodies on disk (--body-store disk): ten times its 128 MiB memory
// watermark in 64 KiB bodies is accepted, survives a SIGKILL and restart,
// and drains fully and in order, while the node's resident set (VmRSS
// from /proc) stays under the watermark throughout.
const (
	backlogBody      = 64 << 10
	backlogTotal     = 10 * backlogWatermark
	backlogWatermark = 128 << 20
	backlogInFlight  = 32 // unconfirmed publishes at once
)

// backlogBodyOf is message i's body: its number, then bytes derived from it.
func backlogBodyOf(i int) []byte {
	b := make([]byte, backlogBody)
	binary.BigEndian.PutUint64(b, uint64(i))
	for j := 8; j < len(b); j += 8 {
		binary.BigEndian.PutUint64(b[j:], uint64(i)*0x9E3779B97F4A7C15+uint64(j))
	}
	return b
}

// rssWatch samples a process's VmRSS until stopped, keeping the maximum.
type rssWatch struct {
	mu   sync.Mutex
	max  int64
	last int64
	stop chan struct{}
	done chan struct{}
}

func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := vmRSS(pid); err == nil {
				w.mu.Lock()
				w.max, w.last = max(w.max, n), n
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *rssWatch) end() (maxRSS, last int64) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.last
}

func TestBacklogLargerThanMemory(t *testing.T) {
	slow(t)
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	dataDir := t.TempDir()
	p := &nodeProc{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), logPath: filepath.Join(t.TempDir(), "node.log")}
	p.extra = []string{"--body-store", "disk", "--memory-high-watermark", strconv.Itoa(backlogWatermark)}
	p.restart()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warren-node log:\n%s", p.log())
		}
	})
	const q = "backlog"
	const n = backlogTotal / backlogBody
	c := newClient(t, p.grpcAddr)
	declareQueue(t, c, q, nil)

	// A node just started may sit above the watermark for a moment
	// (start-up garbage): wait until it takes publishes.
	eventually(t, 30*time.Second, "publishes accepted", func() error {
		res, err := c.Publish(testCtx(t, 10*time.Second), "", "probe", client.Message{Body: []byte("x")})
		if err != nil {
			return err
		}
		if res.Status != client.Confirmed {
			return fmt.Errorf("probe publish: %v", res.Status)
		}
		return nil
	})

	// In waves of backlogInFlight unconfirmed publishes: the SDK may send
	// the requests of one wave in any order, but a wave is confirmed
	// before the next is sent, so the queue's order is the waves' order.
	rss := watchRSS(p.cmd.Process.Pid)
	start := time.Now()
	ctx := testCtx(t, 10*time.Minute)
	futs := make([]*client.PublishFuture, 0, backlogInFlight)
	for wave := 0; wave < n; wave += backlogInFlight {
		futs = futs[:0]
		for i := wave; i < min(wave+backlogInFlight, n); i++ {
			futs = append(futs, c.PublishAsync(ctx, "", q, client.Message{Body: backlogBodyOf(i)}))
		}
		for k, f := range futs {
			if res, err := f.Wait(ctx); err != nil || res.Status != client.Confirmed {
				t.Fatalf("publish %d: %v %v", wave+k, res.Status, err)
			}
		}
	}
	published := time.Since(start)
	waitCounts(t, c, q, n, 0)
	maxPublish, _ := rss.end()
	t.Logf("published %d × %d KiB = %d MiB in %v; node VmRSS max %.1f MiB (watermark %d MiB)",
		n, backlogBody>>10, backlogTotal>>20, published.Round(time.Millisecond), float64(maxPublish)/(1<<20), backlogWatermark>>20)

	// A SIGKILL, and the node again over the same data.
	c.Close()
	p.kill()
	restartAt := time.Now()
	p.restart()
	t.Logf("restart to serving: %v", time.Since(restartAt).Round(time.Millisecond))
	rss = watchRSS(p.cmd.Process.Pid)
	c = newClient(t, p.grpcAddr)
	waitCounts(t, c, q, n, 0)
	maxRestart, _ := rss.end()
	t.Logf("backlog back after the restart; node VmRSS max %.1f MiB meanwhile", float64(maxRestart)/(1<<20))
	rss = watchRSS(p.cmd.Process.Pid)

	drainAt := time.Now()
	drainBacklog(t, ctx, c, q, n)
	maxDrain, last := rss.end()
	t.Logf("drained %d messages in order in %v; node VmRSS max %.1f MiB, at the end %.1f MiB",
		n, time.Since(drainAt).Round(time.Millisecond), float64(maxDrain)/(1<<20), float64(last)/(1<<20))
	// The drained backlog's body segments are deleted at the next
	// snapshot (within the 30 s reclaim period when nothing else comes).
	eventually(t, 90*time.Second, "body files reclaimed", func() error {
		paths, err := filepath.Glob(filepath.Join(dataDir, "groups", "*", "bodies", "seg-*"))
		if err != nil {
			return err
		}
		var size int64
		for _, p := range paths {
			if st, err := os.Stat(p); err == nil {
				size += st.Size()
			}
		}
		if size > 2*64<<20 {
			return fmt.Errorf("%d body files, %d MiB", len(paths), size>>20)
		}
		t.Logf("after the drain: %d body files, %.1f MiB on disk", len(paths), float64(size)/(1<<20))
		return nil
	})
	if maxPublish >= backlogWatermark || maxRestart >= backlogWatermark || maxDrain >= backlogWatermark {
		t.Errorf("node VmRSS reached %.1f MiB publishing, %.1f MiB after the restart, %.1f MiB draining: not under the %d MiB watermark",
			float64(maxPublish)/(1<<20), float64(maxRestart)/(1<<20), float64(maxDrain)/(1<<20), backlogWatermark>>20)
	}
}

// TestBacklogLeaderChange: three warren-node processes keeping bodies on
// disk with a 128 MiB memory watermark; ten times that (1,280 MiB) in 64 KiB bodies is
// published, the leader of the queue's group is killed, and the new
// leader drains the backlog in order with every body intact. The leader's
// VmRSS, and the survivors' from the leader change on, stay under the
// watermark.
func TestBacklogLeaderChange(t *testing.T) {
	slow(t)
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	const q = "backlog-lc"
	const n = backlogTotal / backlogBody
	procs := startProcClusterFlags(t, 3, "--memory-high-watermark", strconv.Itoa(backlogWatermark))
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, q, nil)
	waitProcLeadersSpread(t, admin, procs)
	leader := procQueueLeader(t, procs, procs[0], q)
	var followers []*nodeProc
	for _, p := range procs {
		if p != leader {
			followers = append(followers, p)
		}
	}
	watches := map[string]*rssWatch{}
	for _, p := range procs {
		watches[p.id] = watchRSS(p.cmd.Process.Pid)
	}
	prod := newClient(t, leader.grpcAddr)
	ctx := testCtx(t, 10*time.Minute)
	futs := make([]*client.PublishFuture, 0, backlogInFlight)
	for wave := 0; wave < n; wave += backlogInFlight {
		futs = futs[:0]
		for i := wave; i < min(wave+backlogInFlight, n); i++ {
			futs = append(futs, prod.PublishAsync(ctx, "", q, client.Message{Body: backlogBodyOf(i)}))
		}
		for k, f := range futs {
			if res, err := f.Wait(ctx); err != nil || res.Status != client.Confirmed {
				t.Fatalf("publish %d: %v %v", wave+k, res.Status, err)
			}
		}
	}
	prod.Close()
	leaderMax, _ := watches[leader.id].end()
	publishMax := map[string]int64{}
	for _, p := range followers {
		publishMax[p.id], _ = watches[p.id].end()
		watches[p.id] = watchRSS(p.cmd.Process.Pid)
	}
	leader.kill()
	t.Logf("published %d × 64 KiB = %d MiB; leader %s VmRSS max %.1f MiB; killed", n, n*backlogBody>>20, leader.id, float64(leaderMax)/(1<<20))

	c := newClient(t, followers[0].grpcAddr)
	eventually(t, 60*time.Second, "backlog on the new leader", func() error {
		got, err := getCounts(testCtx(t, 10*time.Second), c, q)
		if err != nil {
			return err
		}
		if got.Ready != n {
			return fmt.Errorf("counts %v", got)
		}
		return nil
	})
	drainBacklog(t, ctx, c, q, n)
	// A follower's peak while the backlog is replicated is reported, not
	// held to the watermark: Raft sends up to 512 entries (each up to
	// 256 KiB) in one AppendEntries, a bound the body store does not set.
	for _, p := range followers {
		m, _ := watches[p.id].end()
		t.Logf("%s VmRSS max %.1f MiB while replicating, %.1f MiB from the leader change to the drained queue", p.id, float64(publishMax[p.id])/(1<<20), float64(m)/(1<<20))
		if m >= backlogWatermark {
			t.Errorf("%s VmRSS reached %.1f MiB after the leader change, not under the %d MiB watermark", p.id, float64(m)/(1<<20), backlogWatermark>>20)
		}
	}
	if leaderMax >= backlogWatermark {
		t.Errorf("leader VmRSS reached %.1f MiB, not under the %d MiB watermark", float64(leaderMax)/(1<<20), backlogWatermark>>20)
	}
}

// drainBacklog consumes the n backlog messages of q and fails unless every
// body is intact and the first deliveries come in publish waves, then
// waits for q to be empty. Consume re-subscribes when the group's
// leadership moves meanwhile (survivors spread leaders after a kill): a
// delivery not acked then comes again, redelivered, and is not counted
// twice.
func drainBacklog(t *testing.T, ctx context.Context, c *client.Client, q string, n int) {
	t.Helper()
	firsts := make(chan int, n)
	bad := make(chan string, 1)
	seen := make([]bool, n)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = c.Consume(cctx, q, func(ctx context.Context, d *client.Delivery) error {
			got := -1
			if len(d.Body) >= 8 {
				got = int(binary.BigEndian.Uint64(d.Body))
			}
			if got < 0 || got >= n || !bytes.Equal(d.Body, backlogBodyOf(got)) {
				select {
				case bad <- fmt.Sprintf("message %d of %d bytes (redelivered %t): its body differs", got, len(d.Body), d.Redelivered):
				default:
				}
				return nil
			}
			if err := d.Ack(ctx); err == nil && !seen[got] {
				seen[got] = true
				firsts <- got
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 16})
	}()
	for i := range n {
		select {
		case got := <-firsts:
			if got/backlogInFlight != i/backlogInFlight {
				t.Fatalf("delivery %d: message %d, not of the next wave", i, got)
			}
		case msg := <-bad:
			t.Fatal(msg)
		case <-time.After(scaled(60 * time.Second)):
			t.Fatalf("%d of %d messages delivered; none for a minute", i, n)
		}
	}
	waitCounts(t, c, q, 0, 0)
}
