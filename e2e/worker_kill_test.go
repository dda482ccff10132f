package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// Environment of the worker helper process.
const (
	workerEnv      = "WARREN_E2E_WORKER"
	workerAddrEnv  = "WARREN_E2E_WORKER_ADDR"
	workerQueueEnv = "WARREN_E2E_WORKER_QUEUE"
	// workerLife bounds how long a worker blocks holding its delivery.
	workerLife = 2 * time.Minute
)

// TestHelperWorker is not a test: re-executed by TestWorkerKilled as a child
// process (the standard helper-process pattern), it subscribes with prefetch
// 1, prints "GOT <body>" for the first delivery and then blocks without
// acking until it is killed (or workerLife passes).
func TestHelperWorker(t *testing.T) {
	if os.Getenv(workerEnv) == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), workerLife)
	defer cancel()
	c, err := client.New(ctx, []string{os.Getenv(workerAddrEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: connect:", err)
		os.Exit(2)
	}
	sub, err := c.Subscribe(ctx, os.Getenv(workerQueueEnv), client.ConsumeOptions{Prefetch: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: subscribe:", err)
		os.Exit(2)
	}
	select {
	case d, ok := <-sub.Deliveries():
		if !ok {
			fmt.Fprintln(os.Stderr, "worker: subscription ended:", sub.Err())
			os.Exit(2)
		}
		fmt.Printf("GOT %s\n", d.Body)
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "worker: no delivery")
		os.Exit(2)
	}
	<-ctx.Done() // hold the delivery, never ack
	os.Exit(3)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWorkerKilled: a consumer process that took a message and is killed
// with SIGKILL before acking loses it to another consumer, which sees it
// redelivered.
func TestWorkerKilled(t *testing.T) {
	n := startNode(t)
	c := newClient(t, n.Addr)
	const q = "work"
	declareQueue(t, c, q, nil)
	publishIDs(t, c, q, "w-", 2)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), workerEnv+"=1", workerAddrEnv+"="+n.Addr, workerQueueEnv+"="+q)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("worker stderr:\n%s", stderr.String())
		}
	})
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "GOT ") {
				got <- strings.TrimPrefix(line, "GOT ")
				break
			}
		}
		// Keep draining (until the worker exits) so it never blocks on a
		// full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}()

	timer := time.NewTimer(scaled(30 * time.Second))
	defer timer.Stop()
	var body string
	select {
	case body = <-got:
	case <-exited:
		t.Fatalf("worker exited early: %v\n%s", waitErr, stderr.String())
	case <-timer.C:
		t.Fatalf("worker printed no GOT line\n%s", stderr.String())
	}
	if body != "w-0" {
		t.Fatalf("worker got %q, want w-0", body)
	}
	// The worker holds w-0; w-1 waits (prefetch 1).
	waitCounts(t, c, q, 1, 1)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("worker did not die")
	}
	waitCounts(t, c, q, 2, 0)

	sub := subscribe(t, c, q, client.ConsumeOptions{Prefetch: 1})
	ctx := testCtx(t, 10*time.Second)
	d := recv(t, sub, 10*time.Second)
	if string(d.Body) != "w-0" || !d.Redelivered || d.DeliveryCount < 1 {
		t.Fatalf("after the worker died: %q redelivered %t count %d; want w-0, true, ≥1", d.Body, d.Redelivered, d.DeliveryCount)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	d = recv(t, sub, 10*time.Second)
	if string(d.Body) != "w-1" || d.Redelivered || d.DeliveryCount != 0 {
		t.Fatalf("second message: %q redelivered %t count %d; want w-1, false, 0", d.Body, d.Redelivered, d.DeliveryCount)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	waitCounts(t, c, q, 0, 0)
}
