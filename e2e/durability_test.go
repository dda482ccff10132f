package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/freeport"
)

// nodeProc is a warren-node child process.
type nodeProc struct {
	t          *testing.T
	id         string // default "e2e-node"
	dataDir    string
	grpcAddr   string
	raftAddr   string
	gossipAddr string
	logPath    string
	// extra flags (cluster tests: --join, --bootstrap-expect, --zone).
	extra []string
	// readOnlyProbe makes waitServing list queues instead of declaring
	// one (a cluster follower may not accept writes).
	readOnlyProbe bool
	// clientOpts are the probe client's options (TLS for a TLS node).
	clientOpts []client.Option
	// binary is the warren-node executable to run; "" is the one TestMain
	// built.
	binary  string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// freeAddr returns a loopback address with a port the OS just handed out
// (and that is free again; the caller retries if someone takes it first).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freeGossipAddr is freeAddr for memberlist, which binds the port for
// both TCP and UDP.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Gossip()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startNodeProc starts warren-node on fresh ports over dataDir, retrying
// with other ports when a port was taken meanwhile.
func startNodeProc(t *testing.T, dataDir string) *nodeProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "node.log")
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		p := &nodeProc{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), logPath: logPath}
		if last = p.start(); last == nil {
			return p
		}
		if !p.bindFailed() {
			break
		}
		t.Logf("ports taken, retrying: %v", last)
	}
	t.Fatalf("warren-node did not start: %v", last)
	return nil
}

// restart starts the process again over the same data dir and addresses;
// a port that is briefly unavailable is retried.
func (p *nodeProc) restart() {
	p.t.Helper()
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if last = p.start(); last == nil {
			return
		}
		if !p.bindFailed() {
			break
		}
	}
	p.t.Fatalf("warren-node did not restart: %v", last)
}

// start runs the binary and waits until the SDK can connect and declare.
func (p *nodeProc) start() error {
	if err := p.launch(); err != nil {
		return err
	}
	return p.waitServing()
}

// launch runs the binary without waiting for it to serve.
func (p *nodeProc) launch() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	id := p.id
	if id == "" {
		id = "e2e-node"
	}
	fmt.Fprintf(logf, "=== start %s id=%s grpc=%s raft=%s gossip=%s\n", time.Now().Format(time.RFC3339Nano), id, p.grpcAddr, p.raftAddr, p.gossipAddr)
	args := []string{
		"--id", id,
		"--data-dir", p.dataDir,
		"--grpc-addr", p.grpcAddr,
		"--raft-addr", p.raftAddr,
		"--gossip-addr", p.gossipAddr,
		"--http-addr", "127.0.0.1:0", // the node logs the port it got (httpAddr)
		"--queue-groups", "4",
		"--session-grace", "500ms",
	}
	bin := p.binary
	if bin == "" {
		bin = nodeBinary
	}
	p.cmd = exec.Command(bin, append(args, p.extra...)...)
	p.cmd.Env = nodeEnv()
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	logf.Close() // the child has its own copy
	p.exited = make(chan struct{})
	cmd, exited := p.cmd, p.exited
	go func() {
		err := cmd.Wait()
		p.waitErr = err
		close(exited)
	}()
	p.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return nil
}

// waitServing polls until a client can declare a queue, or the process
// exits.
func (p *nodeProc) waitServing() error { return poll(30*time.Second, p.probe) }

// probe reports whether a client can declare a queue (or list queues)
// now, or that the process exited.
func (p *nodeProc) probe() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%w: warren-node exited: %v", errExited, p.waitErr)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
	defer cancel()
	c, err := client.New(ctx, []string{p.grpcAddr}, append([]client.Option{client.WithConnectTimeout(500 * time.Millisecond)}, p.clientOpts...)...)
	if err != nil {
		return err
	}
	defer c.Close()
	if p.readOnlyProbe {
		_, err = c.ListQueues(ctx)
		return err
	}
	_, err = c.DeclareQueue(ctx, "probe", client.QueueOptions{})
	return err
}

var errExited = errors.New("process exited")

func (p *nodeProc) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// bindFailed reports whether the process exited because a port was taken.
func (p *nodeProc) bindFailed() bool {
	select {
	case <-p.exited:
	default:
		return false
	}
	return strings.Contains(p.log(), "address already in use")
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *nodeProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(scaled(10 * time.Second)):
		p.t.Fatal("warren-node did not die on SIGKILL")
	}
}

// TestDurability: confirmed messages survive a SIGKILL of the node; acked
// ones stay gone; the ones that were delivered but unacked come back
// redelivered, after the session grace.
func TestDurability(t *testing.T) {
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	dataDir := t.TempDir()
	p := startNodeProc(t, dataDir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warren-node log:\n%s", p.log())
		}
	})
	const q, total, held, acked = "durable", 500, 10, 20

	prod := newClient(t, p.grpcAddr)
	declareQueue(t, prod, q, nil)
	ctx := testCtx(t, 60*time.Second)
	futs := make([]*client.PublishFuture, total)
	for i := range futs {
		futs[i] = prod.PublishAsync(ctx, "", q, client.Message{Body: []byte("d-" + strconv.Itoa(i))})
	}
	for i, f := range futs {
		if res, err := f.Wait(ctx); err != nil || res.Status != client.Confirmed {
			t.Fatalf("publish %d: %v %v", i, res.Status, err)
		}
	}
	waitCounts(t, prod, q, total, 0)

	// Hold 10 deliveries unacked on a subscription.
	holder := newClient(t, p.grpcAddr)
	sub := subscribe(t, holder, q, client.ConsumeOptions{Prefetch: held})
	heldIDs := map[int]bool{}
	for i := 0; i < held; i++ {
		heldIDs[idOf(t, recv(t, sub, 10*time.Second).Body)] = true
	}
	// Ack 20 others, taken with Get.
	acker := newClient(t, p.grpcAddr)
	ackedIDs := map[int]bool{}
	for i := 0; i < acked; i++ {
		d, ok, err := acker.Get(ctx, q, client.GetOptions{})
		if err != nil || !ok {
			t.Fatalf("get %d: %v %v", i, ok, err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("ack %q: %v", d.Body, err)
		}
		ackedIDs[idOf(t, d.Body)] = true
	}
	if len(heldIDs) != held || len(ackedIDs) != acked {
		t.Fatalf("held %d distinct, acked %d distinct", len(heldIDs), len(ackedIDs))
	}
	for id := range heldIDs {
		if ackedIDs[id] {
			t.Fatalf("message %d both held and acked", id)
		}
	}
	waitCounts(t, prod, q, total-held-acked, held)

	p.kill()
	// The old connections are dead; release the clients.
	for _, c := range []*client.Client{prod, holder, acker} {
		_ = c.Close()
	}

	p.restart()
	c := newClient(t, p.grpcAddr)
	declareQueue(t, c, q, nil) // same properties: a no-op
	// After the session grace the held deliveries return.
	waitCounts(t, c, q, total-acked, 0)

	drain := subscribe(t, c, q, client.ConsumeOptions{Prefetch: 50})
	seen := map[int]bool{}
	for i := 0; i < total-acked; i++ {
		d := recv(t, drain, 10*time.Second)
		id := idOf(t, d.Body)
		if seen[id] {
			t.Fatalf("message %d delivered twice", id)
		}
		seen[id] = true
		if ackedIDs[id] {
			t.Fatalf("acked message %d came back after restart", id)
		}
		if d.Redelivered != heldIDs[id] {
			t.Errorf("message %d: redelivered %t, want %t (held unacked: %t)", id, d.Redelivered, heldIDs[id], heldIDs[id])
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for id := 0; id < total; id++ {
		if !seen[id] && !ackedIDs[id] {
			t.Errorf("confirmed message %d lost", id)
		}
	}
	expectNone(t, drain, 200*time.Millisecond, nil)
	waitCounts(t, c, q, 0, 0)
}
