package e2e_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// Issue 11's reclaim test on a real warren-node process: more than ten
// times a disk budget goes through a queue while old messages stay, and
// the body files stay within the budget. The budget is 4 body segments of
// 1 MiB (--body-segment-bytes 1MiB, and a snapshot per 1 MiB of bodies,
// --body-snapshot-bytes 1MiB, so that reclaiming is not held up by the
// default 64 MiB between snapshots). --disk-free-low-watermark is a
// threshold of the file system's free space, which this test cannot set
// small without filling the disk: the budget is a number of segments.
const (
	reclaimSegment = 1 << 20
	reclaimBudget  = 4 * reclaimSegment
	reclaimBody    = 16 << 10
	reclaimRound   = reclaimSegment / reclaimBody // messages per round: a segment's worth
	reclaimRounds  = 48
)

func reclaimBodyOf(i int) []byte {
	b := make([]byte, reclaimBody)
	for j := 0; j < len(b); j += 8 {
		binary.BigEndian.PutUint64(b[j:], uint64(i)*0x9E3779B97F4A7C15+uint64(j))
	}
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

func bodyFilesSize(t *testing.T, dataDir string) (files int, size int64) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dataDir, "groups", "*", "bodies", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	return len(paths), size
}

// TestReclaimTenDiskBudgets: the first message delivered from the queue is
// held unacked the whole time (it pins the first segment), and every
// fourth round leaves one message ready in a queue nobody consumes, so
// that long-lived bodies are spread over the segments (whole-segment
// deletion alone would keep them all: the files would grow by a segment
// per round). After every round the body files come within the budget,
// at no moment sampled are they over twice it, and the held and parked
// messages are delivered intact at the end.
func TestReclaimTenDiskBudgets(t *testing.T) {
	slow(t)
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	dataDir := t.TempDir()
	p := &nodeProc{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), logPath: filepath.Join(t.TempDir(), "node.log")}
	p.extra = []string{"--body-store", "disk", "--queue-groups", "1", "--body-segment-bytes", "1MiB", "--body-snapshot-bytes", "1MiB"}
	p.restart()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warren-node log:\n%s", p.log())
		}
	})
	c := newClient(t, p.grpcAddr)
	declareQueue(t, c, "cycle", nil)
	declareQueue(t, c, "parked", nil)

	var mu sync.Mutex
	var peak int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			_, size := bodyFilesSize(t, dataDir)
			mu.Lock()
			peak = max(peak, size)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var stopOnce sync.Once
	stopSampling := func() { stopOnce.Do(func() { close(stop) }); <-sampled }
	defer stopSampling()

	ctx := testCtx(t, 2*time.Minute)
	next := 0
	publish := func(queue string, ids ...int) {
		t.Helper()
		futs := make([]*client.PublishFuture, 0, len(ids))
		for _, i := range ids {
			futs = append(futs, c.PublishAsync(ctx, "", queue, client.Message{Body: reclaimBodyOf(i)}))
		}
		for k, f := range futs {
			if res, err := f.Wait(ctx); err != nil || res.Status != client.Confirmed {
				t.Fatalf("publish %d to %s: %v %v", ids[k], queue, res.Status, err)
			}
		}
	}
	// check returns the number of the message d carries, checking that its
	// body is the one published (the SDK may send the publishes of one
	// batch in any order).
	check := func(d *client.Delivery) int {
		t.Helper()
		if len(d.Body) < 8 {
			t.Fatalf("a body of %d bytes", len(d.Body))
		}
		i := int(binary.BigEndian.Uint64(d.Body))
		if i < 0 || i >= next || !bytes.Equal(d.Body, reclaimBodyOf(i)) {
			t.Fatalf("message %d: a body of %d bytes that is not the one published", i, len(d.Body))
		}
		return i
	}
	sub := subscribe(t, c, "cycle", client.ConsumeOptions{Prefetch: 2 * reclaimRound})
	var parked []int
	var held *client.Delivery
	heldID := -1
	for round := range reclaimRounds {
		ids := make([]int, reclaimRound)
		for i := range ids {
			ids[i] = next
			next++
		}
		publish("cycle", ids...)
		if round%4 == 0 {
			parked = append(parked, next)
			publish("parked", next)
			next++
		}
		for range ids {
			d := recv(t, sub, 30*time.Second)
			i := check(d)
			if held == nil {
				held, heldID = d, i // unacked until the end
				continue
			}
			if err := d.Ack(ctx); err != nil {
				t.Fatalf("ack %d: %v", i, err)
			}
		}
		// The acks are in the next snapshot, at the next round's
		// publishes, or at the group's 30 s reclaim tick.
		eventually(t, 45*time.Second, fmt.Sprintf("body files within the budget after round %d", round), func() error {
			if files, size := bodyFilesSize(t, dataDir); size > reclaimBudget {
				return fmt.Errorf("%d body files, %d bytes, over the budget of %d", files, size, reclaimBudget)
			}
			return nil
		})
	}
	stopSampling()
	through := int64(next) * reclaimBody
	files, size := bodyFilesSize(t, dataDir)
	t.Logf("%d MiB (%d budgets of %d MiB) went through; the body files peaked at %.2f MiB, now %.2f MiB in %d files",
		through>>20, through/reclaimBudget, reclaimBudget>>20, float64(peak)/(1<<20), float64(size)/(1<<20), files)
	if through < 10*reclaimBudget {
		t.Fatalf("only %d bytes went through, want ten budgets of %d", through, reclaimBudget)
	}
	if peak > 2*reclaimBudget {
		t.Fatalf("the body files reached %d bytes, over twice the budget of %d", peak, reclaimBudget)
	}

	if err := held.Reject(ctx, client.RejectOptions{Requeue: true}); err != nil {
		t.Fatal(err)
	}
	d := recv(t, sub, 30*time.Second)
	if i := check(d); i != heldID {
		t.Fatalf("after the held message %d was returned, message %d came", heldID, i)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for range parked {
		d, ok, err := c.Get(ctx, "parked", client.GetOptions{AutoAck: true})
		if err != nil || !ok {
			t.Fatalf("get a parked message: %v %v", ok, err)
		}
		got[check(d)] = true
	}
	for _, i := range parked {
		if !got[i] {
			t.Fatalf("parked message %d not delivered (got %v)", i, got)
		}
	}
}
