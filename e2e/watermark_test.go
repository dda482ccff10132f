package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The memory high watermark and the disk free low watermark, with real
// warren-node processes: a publisher faster than its consumers gets
// RESOURCE_EXHAUSTED instead of taking the node out of memory, the node
// keeps serving consumers, and publishes are accepted again once the
// queues drain.

const (
	// floodWatermark is the node's --memory-high-watermark.
	floodWatermark = 128 << 20
	// floodRSSBound is the most the node's RSS may reach during the flood:
	// the heap at the watermark, the heap the collector lets grow between
	// cycles (up to twice the live data), and the runtime's, gRPC's and
	// bolt's own memory. The flood tries floodMaxBytes, far above it.
	floodRSSBound = 448 << 20
	// floodMsgBytes is the body of one flood message.
	floodMsgBytes = 64 << 10
	// floodMaxBytes bounds what the flood attempts: without the watermark
	// the node would have to hold all of it.
	floodMaxBytes = 1 << 30
	// floodWindow is how many publishes are in flight at once.
	floodWindow = 16
)

// startNodeProcWith is startNodeProc with extra flags.
func startNodeProcWith(t *testing.T, extra ...string) *nodeProc {
	t.Helper()
	dataDir, logPath := t.TempDir(), filepath.Join(t.TempDir(), "node.log")
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		p := &nodeProc{t: t, dataDir: dataDir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), logPath: logPath, extra: extra}
		if last = p.start(); last == nil {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("warren-node log:\n%s", p.log())
				}
			})
			return p
		}
		if !p.bindFailed() {
			break
		}
	}
	t.Fatalf("warren-node did not start: %v", last)
	return nil
}

// procMemory reads VmRSS and RssAnon of a process from /proc, in bytes.
func procMemory(pid int) (rss, anon uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, perr := strconv.ParseUint(fields[1], 10, 64)
		if perr != nil {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "RssAnon:":
			anon = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, anon, sc.Err()
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestWatermarkMemoryFlood: a producer floods 64 KiB messages into a queue
// nobody consumes, against a node with a 128 MiB memory high watermark. The
// producer gets RESOURCE_EXHAUSTED, with a message that says why, before
// the node's RSS passes floodRSSBound — while the flood, up to 1 GiB, would
// need far more — and the node stays up and serves. A consumer then drains
// the queue, and publishes are accepted again without anyone intervening.
func TestWatermarkMemoryFlood(t *testing.T) {
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	if _, _, err := procMemory(os.Getpid()); err != nil {
		t.Skipf("needs /proc/<pid>/status: %v", err)
	}
	// Bodies in the state, so that a flood fills the heap: on disk
	// (TestBacklogLargerThanMemory) it does not.
	p := startNodeProcWith(t, "--memory-high-watermark", strconv.Itoa(floodWatermark), "--body-store", "memory")
	pid := p.cmd.Process.Pid
	const q = "flood"
	prod := newClient(t, p.grpcAddr)
	declareQueue(t, prod, q, nil)
	rssStart, _, err := procMemory(pid)
	if err != nil {
		t.Fatal(err)
	}

	body := make([]byte, floodMsgBytes)
	for i := range body {
		body[i] = byte(i * 7)
	}
	ctx := testCtx(t, 180*time.Second)
	floodEnd := time.Now().Add(scaled(60 * time.Second))
	var (
		accepted, maxRSS, maxAnon uint64
		refusal                   error
	)
	sample := func() {
		rss, anon, err := procMemory(pid)
		if err != nil {
			t.Fatalf("node process: %v", err)
		}
		maxRSS, maxAnon = max(maxRSS, rss), max(maxAnon, anon)
		if rss > floodRSSBound {
			t.Fatalf("node RSS %s passed the bound %s after %s accepted, without a refusal", mib(rss), mib(floodRSSBound), mib(accepted))
		}
	}
	for accepted < floodMaxBytes && refusal == nil && time.Now().Before(floodEnd) {
		futs := make([]*client.PublishFuture, floodWindow)
		for i := range futs {
			futs[i] = prod.PublishAsync(ctx, "", q, client.Message{Body: body})
		}
		for _, f := range futs {
			res, err := f.Wait(ctx)
			switch {
			case err == nil && res.Status == client.Confirmed:
				accepted += floodMsgBytes
			case status.Code(err) == codes.ResourceExhausted:
				if refusal == nil {
					refusal = err
				}
			default:
				t.Fatalf("flood publish after %s accepted: %v %v", mib(accepted), res.Status, err)
			}
		}
		sample()
	}
	if refusal == nil {
		t.Fatalf("no RESOURCE_EXHAUSTED after %s accepted (max RSS %s)", mib(accepted), mib(maxRSS))
	}
	rssAtRefusal, anonAtRefusal, _ := procMemory(pid)
	t.Logf("flood: watermark %s; %s accepted before the first refusal, of up to %s attempted; node RSS %s at start, %s at the refusal (anon %s), max %s (anon %s) — bound %s",
		mib(floodWatermark), mib(accepted), mib(floodMaxBytes), mib(rssStart), mib(rssAtRefusal), mib(anonAtRefusal), mib(maxRSS), mib(maxAnon), mib(floodRSSBound))
	if !strings.Contains(refusal.Error(), "node memory above high watermark") || !strings.Contains(refusal.Error(), "publishes are refused until consumers drain queues") {
		t.Errorf("the refusal does not say why: %v", refusal)
	}
	if floodMaxBytes <= 2*floodRSSBound {
		t.Fatalf("the flood (%s) is not far above the RSS bound (%s): the test would prove nothing", mib(floodMaxBytes), mib(floodRSSBound))
	}

	// Refused at once, not retried by the SDK until the deadline.
	start := time.Now()
	_, err = prod.Publish(ctx, "", q, client.Message{Body: []byte("while tripped")})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("publish while tripped: %v, want RESOURCE_EXHAUSTED", err)
	}
	if d := time.Since(start); d > scaled(5*time.Second) {
		t.Errorf("a refused publish took %v: the SDK retried it", d)
	}
	// The node stays up and serves everything but publishes.
	select {
	case <-p.exited:
		t.Fatalf("warren-node exited: %v", p.waitErr)
	default:
	}
	got, err := getCounts(ctx, prod, q)
	if err != nil {
		t.Fatalf("list queues while tripped: %v", err)
	}
	if got.Ready*floodMsgBytes != accepted {
		t.Errorf("queue holds %d messages, want the %d accepted", got.Ready, accepted/floodMsgBytes)
	}
	d, ok, err := prod.Get(ctx, q, client.GetOptions{AutoAck: true})
	if err != nil || !ok || len(d.Body) != floodMsgBytes {
		t.Fatalf("get while tripped: %v %v", ok, err)
	}

	// A worker drains the queue, one message at a time with manual acks;
	// the watermark lifts by itself. (Each ack is a Raft entry of the
	// queue's group; they also push the flood's entries out of the group's
	// in-memory log cache, which holds its last 512 entries: see README
	// "Limits".)
	cons := newClient(t, p.grpcAddr)
	sub := subscribe(t, cons, q, client.ConsumeOptions{Prefetch: 1})
	for n := uint64(1); n < got.Ready; n++ {
		if err := recv(t, sub, 30*time.Second).Ack(ctx); err != nil {
			t.Fatalf("ack %d: %v", n, err)
		}
	}
	waitCounts(t, prod, q, 0, 0)
	var lastErr error
	eventually(t, 60*time.Second, "publishes accepted again after the drain", func() error {
		pctx, cancel := context.WithTimeout(ctx, scaled(5*time.Second))
		defer cancel()
		_, lastErr = prod.Publish(pctx, "", q, client.Message{Body: []byte("after drain")})
		return lastErr
	})
	rssAfter, anonAfter, _ := procMemory(pid)
	t.Logf("after the drain: publishes accepted again; node RSS %s (anon %s)", mib(rssAfter), mib(anonAfter))
	for _, line := range strings.Split(p.log(), "\n") {
		if strings.Contains(line, "watermark") {
			t.Log(line)
		}
	}
}

// TestWatermarkForwardedEnqueue: in a cluster, a publish through a node
// with room to a queue whose group is led by a node short of disk is
// refused by that leader (NodeService.Enqueue), which would hold the
// messages; a publish to a queue led by a node with room is confirmed.
// The short node's disk watermark is set above any disk's size, so it is
// tripped from the start.
func TestWatermarkForwardedEnqueue(t *testing.T) {
	slow(t)
	if nodeBinary == "" {
		t.Fatal("warren-node was not built")
	}
	const size = 3
	procs := make([]*nodeProc, size)
	var join []string
	for i := range procs {
		procs[i] = newClusterProc(t, "n"+strconv.Itoa(i+1))
		join = append(join, procs[i].gossipAddr)
	}
	for i, p := range procs {
		p.extra = []string{"--bootstrap-expect", strconv.Itoa(size), "--join", strings.Join(join, ","), "--zone", string(rune('a' + i))}
		if p.id == "n3" {
			p.extra = append(p.extra, "--disk-free-low-watermark", "1000000TiB")
		}
		if err := p.launch(); err != nil {
			t.Fatalf("launch %s: %v", p.id, err)
		}
	}
	for _, p := range procs {
		if err := p.waitServing(); err != nil {
			t.Fatalf("%s not serving: %v", p.id, err)
		}
	}
	short, roomy := procs[2], procs[0]
	queues := []string{"wa", "wb", "wc", "wd"} // with "probe", every group has a queue
	for _, q := range queues {
		declareOnAny(t, procs, q)
	}
	cc, err := grpc.NewClient(roomy.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), guestLogin())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	api := pb.NewBrokerServiceClient(cc)
	pub := newClient(t, roomy.grpcAddr)
	ctx := testCtx(t, 120*time.Second)

	// Through the short node itself: refused by its Publish handler.
	_, err = newClient(t, short.grpcAddr).Publish(ctx, "", "wa", client.Message{Body: []byte("x")})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "disk free space below low watermark") {
		t.Fatalf("publish through the node short of disk: %v, want RESOURCE_EXHAUSTED naming the disk", err)
	}

	// Through a node with room: refused for a queue the short node leads,
	// confirmed for one that another node leads. Leaderships move (the
	// cluster spreads them), so this is retried until both were seen.
	var refused, confirmed bool
	eventually(t, 60*time.Second, "a forwarded publish refused by the short leader and one confirmed elsewhere", func() error {
		leaders, err := groupLeaders(ctx, api)
		if err != nil {
			return err
		}
		lq, err := api.ListQueues(ctx, &pb.ListQueuesRequest{})
		if err != nil {
			return err
		}
		for _, qi := range lq.GetQueues() {
			if !strings.HasPrefix(qi.GetName(), "w") {
				continue
			}
			leader := leaders["q"+strconv.Itoa(int(qi.GetGroup()))]
			pctx, cancel := context.WithTimeout(ctx, scaled(5*time.Second))
			_, err := pub.Publish(pctx, "", qi.GetName(), client.Message{Body: []byte("x")})
			cancel()
			switch {
			case leader == short.id && status.Code(err) == codes.ResourceExhausted:
				if !strings.Contains(err.Error(), "disk free space below low watermark") {
					return fmt.Errorf("refusal does not say why: %v", err)
				}
				if !refused {
					t.Logf("forwarded publish to %s (group q%d, led by %s): %v", qi.GetName(), qi.GetGroup(), leader, err)
				}
				refused = true
			case leader != short.id && leader != "" && err == nil:
				confirmed = true
			}
		}
		if !refused || !confirmed {
			return fmt.Errorf("leaders %v: refused by %s seen: %t, confirmed elsewhere seen: %t", leaders, short.id, refused, confirmed)
		}
		return nil
	})
}

// groupLeaders maps each Raft group to its leader's id, as one node sees it.
func groupLeaders(ctx context.Context, api pb.BrokerServiceClient) (map[string]string, error) {
	st, err := api.ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, g := range st.GetGroups() {
		out[g.GetName()] = g.GetLeaderId()
	}
	if len(out) == 0 {
		return nil, errors.New("no groups")
	}
	return out, nil
}
