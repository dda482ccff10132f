package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// idleStreamsEnv sets the number of idle consumer streams of
// TestIdleConsumerStreams (default idleStreamsDefault, small enough for CI).
const (
	idleStreamsEnv     = "WARREN_IDLE_STREAMS"
	idleStreamsDefault = 1000
	// streamsPerClient is how many consume streams share one client, that is
	// one gRPC connection (HTTP/2 multiplexes them; the server sets no
	// MaxConcurrentStreams, so grpc-go allows 2^32-1 per connection).
	streamsPerClient = 500
	// subscribersPerClient bounds the concurrent Subscribe calls per client.
	subscribersPerClient = 8
)

// TestIdleConsumerStreams measures what an idle consumer stream costs a
// warren-node process: it opens N consume streams (prefetch 10) on one
// queue over N/500 SDK clients, checks the node still serves (publish and
// get on another queue, N consumers listed), logs the node's RSS, Go heap
// and goroutines before and after, per stream, then closes everything and
// checks the consumers go back to 0.
func TestIdleConsumerStreams(t *testing.T) {
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	n := idleStreamsDefault
	if v := os.Getenv(idleStreamsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", idleStreamsEnv, v)
		}
	}
	clients := (n + streamsPerClient - 1) / streamsPerClient
	// Each client holds one connection in this process and one in the node
	// (which inherits the limit); leave room for Raft, bolt files and logs.
	raiseFDLimit(t, uint64(4*clients+1024))

	p, pprofAddr := startNodeWithPprof(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warren-node log:\n%s", p.log())
		}
	})
	const idle, probe = "idle-streams", "idle-streams-probe"
	admin := newClient(t, p.grpcAddr)
	declareQueue(t, admin, idle, nil)
	declareQueue(t, admin, probe, nil)

	cs := make([]*client.Client, clients)
	for i := range cs {
		cs[i] = newClient(t, p.grpcAddr)
		// Open the session stream now, so the baseline includes it.
		if _, err := cs[i].ListQueues(testCtx(t, 10*time.Second)); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	before := sampleNode(t, p, pprofAddr)
	self0 := rssKB(t, os.Getpid())

	start := time.Now()
	subs := openIdleStreams(t, cs, idle, n)
	opened := time.Since(start)
	eventuallyConsumers(t, admin, idle, uint32(n), 2*time.Minute)
	after := sampleNode(t, p, pprofAddr)
	self1 := rssKB(t, os.Getpid())

	// The node keeps serving other work with the streams open.
	publish(t, admin, "", probe, client.Message{Body: []byte("still-serving")}, client.Confirmed)
	ctx := testCtx(t, 30*time.Second)
	d, ok, err := admin.Get(ctx, probe, client.GetOptions{})
	if err != nil || !ok || string(d.Body) != "still-serving" {
		t.Fatalf("get from %q with %d idle streams: ok=%v err=%v", probe, n, ok, err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}
	for i, s := range subs {
		if err := s.Err(); err != nil {
			t.Fatalf("stream %d ended while idle: %v", i, err)
		}
	}

	per := func(a, b int64) string { return fmt.Sprintf("%.0f", float64(b-a)/float64(n)) }
	t.Logf("%d idle consumer streams (prefetch 10) over %d clients, opened in %v", n, clients, opened.Round(time.Millisecond))
	t.Logf("node RSS:        before %d KiB, after %d KiB, %s bytes/stream", before.rssKB, after.rssKB, per(before.rssKB*1024, after.rssKB*1024))
	if before.heapInuse > 0 && after.heapInuse > 0 {
		t.Logf("node heap inuse: before %d KiB, after %d KiB, %s bytes/stream (after GC; free heap kept from the OS: %d KiB after)",
			before.heapInuse/1024, after.heapInuse/1024, per(before.heapInuse, after.heapInuse), after.heapRetained/1024)
	}
	if before.stackInuse > 0 && after.stackInuse > 0 {
		t.Logf("node stacks:     before %d KiB, after %d KiB, %s bytes/stream", before.stackInuse/1024, after.stackInuse/1024, per(before.stackInuse, after.stackInuse))
	}
	if before.goroutines > 0 && after.goroutines > 0 {
		t.Logf("node goroutines: before %d, after %d, %.2f/stream", before.goroutines, after.goroutines, float64(after.goroutines-before.goroutines)/float64(n))
	}
	t.Logf("test process (SDK side) RSS: before %d KiB, after %d KiB, %s bytes/stream", self0, self1, per(self0*1024, self1*1024))

	start = time.Now()
	closeAll(subs)
	eventuallyConsumers(t, admin, idle, 0, 2*time.Minute)
	closed := sampleNode(t, p, pprofAddr)
	t.Logf("closed in %v; node RSS %d KiB, goroutines %d after closing", time.Since(start).Round(time.Millisecond), closed.rssKB, closed.goroutines)
}

// openIdleStreams subscribes n times to queue with prefetch 10, spread
// evenly over cs, with subscribersPerClient calls in flight per client.
// The subscriptions are closed at cleanup (closing twice is harmless).
func openIdleStreams(t *testing.T, cs []*client.Client, queue string, n int) []*client.Subscription {
	t.Helper()
	ctx := testCtx(t, 5*time.Minute)
	subs := make([]*client.Subscription, n)
	errs := make(chan error, len(cs)*subscribersPerClient)
	var wg sync.WaitGroup
	for ci, c := range cs {
		for w := range subscribersPerClient {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Stream i belongs to client i % len(cs), worker
				// (i / len(cs)) % subscribersPerClient.
				for i := ci + w*len(cs); i < n; i += len(cs) * subscribersPerClient {
					s, err := c.Subscribe(ctx, queue, client.ConsumeOptions{Prefetch: 10})
					if err != nil {
						errs <- fmt.Errorf("subscribe %d of %d: %w", i, n, err)
						return
					}
					subs[i] = s
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() { closeAll(subs) })
	for err := range errs {
		t.Fatal(err)
	}
	return subs
}

// closeAll closes the subscriptions, many at once (each Close may wait for
// the server to end its stream).
func closeAll(subs []*client.Subscription) {
	const workers = 64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(subs); i += workers {
				if subs[i] != nil {
					_ = subs[i].Close()
				}
			}
		}()
	}
	wg.Wait()
}

// eventuallyConsumers polls until queue lists want consumers, for up to d.
func eventuallyConsumers(t *testing.T, c *client.Client, queue string, want uint32, d time.Duration) {
	t.Helper()
	ctx := testCtx(t, d+30*time.Second)
	eventually(t, d, fmt.Sprintf("queue %q has %d consumers", queue, want), func() error {
		got, err := getCounts(ctx, c, queue)
		if err != nil {
			return err
		}
		if got.Consumers != want {
			return fmt.Errorf("queue %q: %v", queue, got)
		}
		return nil
	})
}

// raiseFDLimit raises the soft limit on open files to at least need (up to
// the hard limit) for this process and the node it starts.
func raiseFDLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Fatalf("open-file hard limit %d is below the %d this test needs (ulimit -Hn)", lim.Max, need)
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	t.Cleanup(func() {
		lim.Cur = old
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
}

// startNodeWithPprof starts warren-node with --pprof-addr and returns it
// with that address; ports taken meanwhile are retried as startNodeProc
// does.
func startNodeWithPprof(t *testing.T) (*nodeProc, string) {
	t.Helper()
	dataDir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "node.log")
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		pprofAddr := freeAddr(t)
		p := &nodeProc{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t),
			logPath: logPath, extra: []string{"--pprof-addr", pprofAddr}}
		if last = p.start(); last == nil {
			return p, pprofAddr
		}
		if !p.bindFailed() {
			break
		}
		t.Logf("ports taken, retrying: %v", last)
	}
	t.Fatalf("warren-node did not start: %v", last)
	return nil, ""
}

// nodeSample is what the test measures of the node process.
type nodeSample struct {
	rssKB      int64
	heapInuse  int64 // bytes, after a forced GC; 0 when pprof did not answer
	stackInuse int64 // bytes of goroutine stacks; 0 when pprof did not answer
	// heapRetained is free heap the runtime has not returned to the OS
	// (HeapIdle - HeapReleased): part of RSS, not of any stream.
	heapRetained int64
	goroutines   int64 // 0 when pprof did not answer
}

// sampleNode reads the node's RSS and, through its pprof endpoint (which
// is informational: a failure there is logged, not fatal), the Go heap in
// use after a GC and the goroutine count. The heap is read first so that
// RSS is read after the forced GC (the runtime returns freed pages to the
// OS only lazily, so RSS still includes some garbage).
func sampleNode(t *testing.T, p *nodeProc, pprofAddr string) nodeSample {
	t.Helper()
	var s nodeSample
	if heap, err := pprofText(pprofAddr, "/debug/pprof/heap?debug=1&gc=1"); err != nil {
		t.Logf("pprof heap: %v", err)
	} else {
		s.heapInuse = memStat(heap, "HeapInuse")
		s.stackInuse = memStat(heap, "Stack")
		s.heapRetained = memStat(heap, "HeapIdle") - memStat(heap, "HeapReleased")
	}
	if g, err := pprofText(pprofAddr, "/debug/pprof/goroutine?debug=1"); err != nil {
		t.Logf("pprof goroutines: %v", err)
	} else if line, _, _ := bytes.Cut(g, []byte("\n")); bytes.HasPrefix(line, []byte("goroutine profile: total ")) {
		s.goroutines, _ = strconv.ParseInt(string(bytes.TrimPrefix(line, []byte("goroutine profile: total "))), 10, 64)
	}
	s.rssKB = rssKB(t, p.cmd.Process.Pid)
	return s
}

// pprofText fetches a text pprof page from the node (loopback only).
func pprofText(addr, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scaled(30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", path, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// memStat returns the value of "# name = N" (the first number for
// "# name = inuse / sys") in a heap profile's runtime.MemStats trailer, or 0.
func memStat(profile []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(profile))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	prefix := "# " + name + " = "
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			num, _, _ := strings.Cut(strings.TrimPrefix(line, prefix), " ")
			v, _ := strconv.ParseInt(num, 10, 64)
			return v
		}
	}
	return 0
}

// rssKB reads VmRSS (KiB) of process pid from /proc.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
