package broker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Sizes of the session-end wave of issue 9: "with 200,000 queues in the
// meta state, closing 4,000 sessions and 1,000 consumers stalled an
// unrelated publish for 58 s".
const (
	waveQueues    = 200_000
	waveSessions  = 4_000
	waveOwners    = 1_000 // sessions that own an exclusive queue each
	waveConsumers = 1_000 // consumers, each of a session of its own, on auto-delete queues
	waveConns     = 10    // client connections: streams per connection stay under the cap
	// waveMaxDelay bounds the worst confirm latency of an unrelated publish
	// while the sessions end. Issue 9's goal is 100 ms (the test logs the
	// figure: 27–87 ms on a quiet machine); the bound is ten times that so
	// that a busy machine does not fail it, while the cost it guards
	// against — work in proportion to the whole state, 58 s before — is
	// still caught.
	waveMaxDelay = time.Second
	// waveRoleEnv and waveNodeEnv tell a child process of the test binary
	// its role ("clients" or "publisher") and the node's address.
	waveRoleEnv = "WARREN_WAVE_ROLE"
	waveNodeEnv = "WARREN_WAVE_NODE"
)

func waveQueue(i int) string     { return fmt.Sprintf("q-%06d", i) }
func waveSession(i int) string   { return fmt.Sprintf("sess-%04d", i) }
func waveExclusive(i int) string { return fmt.Sprintf("excl-%04d", i) }

// TestSessionEndWaveDoesNotStallPublish is issue 9's measurement on a real
// node (Raft groups on bolt files, the gRPC API). With 200,000 queues
// declared, a client process opens 4,000 sessions — 1,000 of them owning
// an exclusive queue, 1,000 holding a consumer with an unacked delivery on
// an auto-delete queue — over ten connections, and is killed: every
// stream ends at once, as when a client host's process dies. Meanwhile a
// publisher process publishes confirmed messages to an unrelated queue,
// one at a time. Ending a session costs what it owns, so the worst confirm
// during the wave (until every exclusive and auto-delete queue is gone
// and no session of the clients is live) stays under 100 ms (times
// WARREN_TEST_TIMEOUT_SCALE). It logs the baseline, the wave's median,
// p99 and worst delays and how long the wave took.
//
// The clients and the publisher are child processes of the test binary
// (TestSessionEndWaveChild), as they would be other programs: in the
// node's process their goroutines would share its scheduler, and the
// publisher's replies would queue behind the node's own stream teardown.
// It takes 15–30 s on 2 cores and is skipped with -short and under the
// race detector, which slows every step several times and makes the bound
// meaningless.
func TestSessionEndWaveDoesNotStallPublish(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("declares 200,000 queues and measures latency: not with -short or -race")
	}
	node := transporttest.Start(t, transporttest.Options{QueueGroups: 4})
	apis := make([]pb.BrokerServiceClient, 8)
	for i := range apis {
		apis[i] = node.Dial(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute*transporttest.TimeoutScale())
	defer cancel()

	// 200,000 queues, 256 declarations in flight: Raft writes each batch
	// of concurrent proposals at once. The first waveConsumers are
	// auto-delete; the consumers attach there.
	start := time.Now()
	inParallel(t, waveQueues, 256, func(i int) error {
		_, err := apis[i%len(apis)].DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: waveQueue(i), AutoDelete: i < waveConsumers})
		return err
	})
	t.Logf("declared %d queues in %v", waveQueues, time.Since(start).Round(time.Millisecond))
	if _, err := apis[0].DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "unrelated"}); err != nil {
		t.Fatal(err)
	}

	clients := startWaveChild(t, "clients", node.Addr)
	clients.await(t, "WAVE-READY")
	t.Logf("the client process holds %d sessions, %d exclusive queues, %d consumers after %v",
		waveSessions, waveOwners, waveConsumers, time.Since(start).Round(time.Millisecond))
	pub := startWaveChild(t, "publisher", node.Addr)
	pub.await(t, "WAVE-BASELINE")

	// The wave: the client process dies, and with it every stream.
	waveStart := time.Now()
	clients.kill()
	// It is over when no session of the clients is live here and every
	// exclusive queue and every auto-delete queue whose consumer went is
	// gone. Deletions only progress, so each poll asks about the first
	// name still present and those after it that went.
	ids := make([]string, waveSessions)
	for i := range ids {
		ids[i] = waveSession(i)
	}
	var left []string
	for i := range waveOwners {
		left = append(left, waveExclusive(i))
	}
	for i := range waveConsumers {
		left = append(left, waveQueue(i))
	}
	waitUntil(t, 60*time.Second, "sessions ended, exclusive and auto-delete queues deleted", func() error {
		if live := node.Broker.LiveSessions(ids); len(live) > 0 {
			return fmt.Errorf("%d sessions still live", len(live))
		}
		for len(left) > 0 {
			_, err := apis[0].DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: left[0], Passive: true})
			if status.Code(err) != codes.NotFound {
				return fmt.Errorf("%d queues left, %s still there (%v)", len(left), left[0], err)
			}
			left = left[1:]
		}
		return nil
	})
	waveEnd := time.Now()
	samples := pub.samples(t)

	var base, wave []time.Duration
	failed := 0
	for _, s := range samples {
		switch {
		case s.at.Add(s.took).Before(waveStart):
			base = append(base, s.took)
		case s.at.Before(waveEnd):
			wave = append(wave, s.took) // overlaps the wave
		}
		if s.err != "" {
			failed++
			t.Errorf("a publish sent %v into the wave failed after %v: %s", s.at.Sub(waveStart), s.took, s.err)
		}
	}
	if len(base) == 0 || len(wave) == 0 {
		t.Fatalf("%d publishes before the wave, %d during it", len(base), len(wave))
	}
	slices.Sort(base)
	slices.Sort(wave)
	worst := wave[len(wave)-1]
	t.Logf("baseline: %d publishes, median %v, worst %v; wave of %v: %d publishes (%d failed), median %v, p99 %v, worst %v",
		len(base), base[len(base)/2], base[len(base)-1], waveEnd.Sub(waveStart).Round(time.Millisecond),
		len(wave), failed, wave[len(wave)/2], wave[len(wave)*99/100], worst)
	if limit := waveMaxDelay * transporttest.TimeoutScale(); worst >= limit {
		t.Errorf("an unrelated publish waited %v while the sessions ended; the bound is %v", worst, limit)
	}
}

// waveChild is a child process of the wave test: the clients or the
// publisher.
type waveChild struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once

	mu     sync.Mutex
	lines  []string      // its output so far, kept whole: never blocks the child
	ended  bool          // its output ended
	notify chan struct{} // signalled on each line and at the end
	next   int           // the first line await has not read
}

// startWaveChild runs TestSessionEndWaveChild in a child process of this
// test binary, in role, against the node at addr. It is killed at cleanup
// at the latest.
func startWaveChild(t *testing.T, role, addr string) *waveChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSessionEndWaveChild$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), waveRoleEnv+"="+role, waveNodeEnv+"="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &waveChild{role: role, cmd: cmd, stdin: in, notify: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
			c.signal()
		}
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		c.signal()
		_ = cmd.Wait()
	}()
	t.Cleanup(c.kill)
	return c
}

func (c *waveChild) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// await reads the child's output until a line starting with want, and
// fails the test on WAVE-ERROR, on its end, or after 2 minutes.
func (c *waveChild) await(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(2 * time.Minute * transporttest.TimeoutScale())
	for {
		c.mu.Lock()
		var line string
		have, ended := c.next < len(c.lines), c.ended
		if have {
			line = c.lines[c.next]
			c.next++
		}
		c.mu.Unlock()
		switch {
		case have && strings.HasPrefix(line, want):
			return line
		case have && strings.HasPrefix(line, "WAVE-ERROR"):
			t.Fatalf("the %s process: %s", c.role, line)
		case have:
		case ended:
			t.Fatalf("the %s process ended before %s", c.role, want)
		default:
			select {
			case <-c.notify:
			case <-timeout:
				t.Fatalf("the %s process did not say %s within 2 minutes", c.role, want)
			}
		}
	}
}

// kill ends the child at once (SIGKILL): the kernel closes its
// connections, and the node sees every stream of it end together.
func (c *waveChild) kill() {
	c.once.Do(func() { _ = c.cmd.Process.Kill() })
}

// samples stops the publisher (it stops when its stdin closes), waits for
// it to end and returns the publishes it made.
func (c *waveChild) samples(t *testing.T) []publishSample {
	t.Helper()
	_ = c.stdin.Close()
	timeout := time.After(2 * time.Minute * transporttest.TimeoutScale())
	for {
		c.mu.Lock()
		ended := c.ended
		c.mu.Unlock()
		if ended {
			break
		}
		select {
		case <-c.notify:
		case <-timeout:
			t.Fatalf("the %s process did not end within 2 minutes", c.role)
		}
	}
	var out []publishSample
	done := false
	for _, line := range c.lines {
		done = done || line == "WAVE-DONE"
		if !strings.HasPrefix(line, "WAVE-SAMPLE ") {
			continue
		}
		// WAVE-SAMPLE start took [error]
		f := strings.SplitN(line, " ", 4)
		at, err1 := strconv.ParseInt(f[1], 10, 64)
		took, err2 := strconv.ParseInt(f[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("publisher: %q: %v", line, err)
		}
		sample := publishSample{at: time.Unix(0, at), took: time.Duration(took)}
		if len(f) == 4 {
			sample.err = f[3]
		}
		out = append(out, sample)
	}
	if !done {
		t.Errorf("the %s process ended without WAVE-DONE", c.role)
	}
	return out
}

// publishSample is one publish: when it was sent, how long the confirm
// (or the failure) took, and the failure.
type publishSample struct {
	at   time.Time
	took time.Duration
	err  string
}

// TestSessionEndWaveChild is a child process of
// TestSessionEndWaveDoesNotStallPublish, run only by it: the clients, or
// the publisher, of the node named by WARREN_WAVE_NODE. It reports on
// stdout (WAVE-… lines) and ends with WAVE-ERROR on a failure.
func TestSessionEndWaveChild(t *testing.T) {
	addr := os.Getenv(waveNodeEnv)
	if addr == "" {
		t.Skip("a child process of TestSessionEndWaveDoesNotStallPublish")
	}
	var err error
	switch role := os.Getenv(waveRoleEnv); role {
	case "clients":
		err = waveClients(addr)
	case "publisher":
		err = wavePublisher(addr)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Printf("WAVE-ERROR %v\n", err)
		os.Exit(1)
	}
}

func dialWave(addr string) (pb.BrokerServiceClient, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return pb.NewBrokerServiceClient(cc), nil
}

// waveClients opens the sessions, exclusive queues and consumers, prints
// WAVE-READY and waits to be killed.
func waveClients(addr string) error {
	apis := make([]pb.BrokerServiceClient, waveConns)
	for i := range apis {
		api, err := dialWave(addr)
		if err != nil {
			return err
		}
		apis[i] = api
	}
	ctx := context.Background()
	// 4,000 sessions, 400 streams on each connection.
	if err := forEach(waveSessions, 64, func(i int) error {
		s, err := apis[i%waveConns].Session(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&pb.SessionRequest{SessionId: waveSession(i)}); err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}); err != nil {
		return err
	}
	// Sessions 0–999 own an exclusive queue each.
	if err := forEach(waveOwners, 64, func(i int) error {
		_, err := apis[i%waveConns].DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: waveExclusive(i), Exclusive: true, SessionId: waveSession(i)})
		return err
	}); err != nil {
		return err
	}
	// Sessions 1000–1999 hold a consumer each, on auto-delete queue i,
	// with one unacked delivery.
	if err := forEach(waveConsumers, 64, func(i int) error {
		api := apis[(waveOwners+i)%waveConns]
		c, err := api.Consume(ctx)
		if err != nil {
			return err
		}
		if err := c.Send(&pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{
			Queue: waveQueue(i), Prefetch: 10, ConsumerTag: "c", SessionId: waveSession(waveOwners + i),
		}}}); err != nil {
			return err
		}
		if r, err := c.Recv(); err != nil || r.GetSubscribed() == nil {
			return fmt.Errorf("subscribe to %s: %v %v", waveQueue(i), r, err)
		}
		if _, err := api.Publish(ctx, &pb.PublishRequest{Entries: []*pb.PublishEntry{
			{RoutingKey: waveQueue(i), Message: &pb.Message{Body: []byte("held")}},
		}}); err != nil {
			return err
		}
		if r, err := c.Recv(); err != nil || r.GetDelivery() == nil {
			return fmt.Errorf("delivery from %s: %v %v", waveQueue(i), r, err)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Println("WAVE-READY")
	select {} // until killed
}

// wavePublisher publishes one message at a time to the queue "unrelated"
// until its stdin closes. It prints a WAVE-SAMPLE line per publish (start
// in Unix ns, confirm latency in ns, and the error of a publish that
// failed: it goes on after one), WAVE-BASELINE after the 100th, and
// WAVE-DONE at the end.
func wavePublisher(addr string) error {
	api, err := dialWave(addr)
	if err != nil {
		return err
	}
	var stop atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	n := 0
	for ; !stop.Load(); n++ {
		at := time.Now()
		r, err := api.Publish(context.Background(), &pb.PublishRequest{Entries: []*pb.PublishEntry{
			{RoutingKey: "unrelated", Message: &pb.Message{Body: []byte("unrelated")}},
		}})
		took := time.Since(at)
		if err == nil && r.GetResults()[0].GetStatus() != pb.PublishStatus_PUBLISH_STATUS_CONFIRMED {
			err = errors.New(r.GetResults()[0].String())
		}
		line := fmt.Sprintf("WAVE-SAMPLE %d %d", at.UnixNano(), int64(took))
		if err != nil {
			line += " " + strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Println(line)
		if n == 99 {
			fmt.Println("WAVE-BASELINE")
		}
	}
	fmt.Println("WAVE-DONE")
	return nil
}

// inParallel runs f(0) … f(n-1) on width goroutines and fails the test
// with the first error.
func inParallel(t *testing.T, n, width int, f func(i int) error) {
	t.Helper()
	if err := forEach(n, width, f); err != nil {
		t.Fatal(err)
	}
}

// forEach runs f(0) … f(n-1) on width goroutines and returns the first
// error; after one, the items not yet started are skipped.
func forEach(n, width int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					errMu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
