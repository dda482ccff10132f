package e2e_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestGracefulShutdown: SIGTERM stops a node promptly even with a consumer
// and a session attached (their streams end with UNAVAILABLE), the process
// exits 0, and after a restart the unacked delivery is back, redelivered.
func TestGracefulShutdown(t *testing.T) {
	p := startNodeProc(t, t.TempDir())
	c := newClient(t, p.grpcAddr)
	ctx := testCtx(t, 60*time.Second)
	declareQueue(t, c, "work", nil)
	publishIDs(t, c, "work", "s", 1)
	sub := subscribe(t, c, "work", client.ConsumeOptions{Prefetch: 1})
	if d := recv(t, sub, 10*time.Second); d.Redelivered {
		t.Fatal("first delivery marked redelivered")
	}
	if _, _, err := c.Get(ctx, "work", client.GetOptions{}); err != nil { // opens the session stream too
		t.Fatal(err)
	}

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(scaled(8 * time.Second)):
		t.Fatalf("warren-node still running %v after SIGTERM with a consumer attached; log:\n%s", scaled(8*time.Second), p.log())
	}
	if p.waitErr != nil {
		t.Fatalf("warren-node exited with %v after SIGTERM; log:\n%s", p.waitErr, p.log())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	select {
	case <-sub.Done():
	case <-time.After(scaled(5 * time.Second)):
		t.Fatal("the consumer's subscription did not end with the node")
	}
	_ = c.Close()

	p.restart()
	c2 := newClient(t, p.grpcAddr)
	waitCounts(t, c2, "work", 1, 0)
	d, ok, err := c2.Get(ctx, "work", client.GetOptions{AutoAck: true})
	if err != nil || !ok {
		t.Fatalf("get after restart: ok=%t err=%v", ok, err)
	}
	if !d.Redelivered {
		t.Error("the delivery unacked at shutdown came back without redelivered")
	}
}
