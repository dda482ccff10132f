package e2e_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// How fast a failover is belongs to `warren bench failover`; these tests
// check what makes it fast, with real processes and conditions that hold
// on a slow machine too.

// TestKilledLeaderReplacedWithoutTimeout: with Raft's timeouts tripled
// (a 3 s heartbeat timeout), the leader of a queue's group is killed; a
// surviving node stands for election because the dead leader's Raft port
// refuses connections (its log says so), not because a timeout ran out,
// and publishes and deliveries through the other nodes go on.
func TestKilledLeaderReplacedWithoutTimeout(t *testing.T) {
	slow(t)
	procs := startProcClusterFlags(t, 3, "--raft-timing-multiplier", "3")
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "watched", nil)
	waitProcLeadersSpread(t, admin, procs)
	leader := procQueueLeader(t, procs, procs[0], "watched")
	var rest []*nodeProc
	for _, p := range procs {
		if p != leader {
			rest = append(rest, p)
		}
	}
	addrs := []string{rest[0].grpcAddr, rest[1].grpcAddr}
	prod, cons := newClientAddrs(t, addrs), newClientAddrs(t, []string{addrs[1], addrs[0]})
	waitQueueKnown(t, cons, "watched")

	leader.kill()
	killed := time.Now()
	eventually(t, 60*time.Second, "a survivor stood for election because the leader's port refused", func() error {
		for _, p := range rest {
			if strings.Contains(p.log(), "leader's process is gone") && strings.Contains(p.log(), "leader="+leader.id) {
				return nil
			}
		}
		return errors.New("no survivor logged it")
	})
	sub := subscribe(t, cons, "watched", client.ConsumeOptions{Prefetch: 10})
	publish(t, prod, "", "watched", client.Message{Body: timeBody(time.Now())}, client.Confirmed)
	d := recv(t, sub, 60*time.Second)
	if sent := bodyTime(d.Body); sent.Before(killed) {
		t.Errorf("got a message sent before the kill, at %v", sent)
	}
}

// TestSilentLeaderReplacedBeforeTimeout: with Raft's timeouts tripled (a
// 3 s heartbeat timeout), the leader of a queue's group is paused; the
// followers find it silent to both of them and one stands for election
// (its log says so) rather than waiting for Raft's timeouts, and a
// message published after the pause is confirmed while the old leader is
// still paused.
func TestSilentLeaderReplacedBeforeTimeout(t *testing.T) {
	slow(t)
	procs := startProcClusterFlags(t, 3, "--raft-timing-multiplier", "3")
	admin := newClient(t, procs[0].grpcAddr)
	declareQueue(t, admin, "hushed", nil)
	waitProcLeadersSpread(t, admin, procs)
	leader := procQueueLeader(t, procs, procs[0], "hushed")
	var rest []*nodeProc
	for _, p := range procs {
		if p != leader {
			rest = append(rest, p)
		}
	}
	prod := newClientAddrs(t, []string{rest[0].grpcAddr, rest[1].grpcAddr})
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leader.cmd.Process.Signal(syscall.SIGCONT) }()
	eventually(t, 60*time.Second, "a follower stood for election because the leader was silent to a majority", func() error {
		for _, p := range rest {
			if strings.Contains(p.log(), "silent to a majority of the voters: standing for election now") && strings.Contains(p.log(), "leader="+leader.id) {
				return nil
			}
		}
		return errors.New("no follower logged it")
	})
	publish(t, prod, "", "hushed", client.Message{Body: timeBody(time.Now())}, client.Confirmed)
}

// TestPausedFollowerDoesNotDeposeLeaders: a node paused (SIGSTOP) past the
// heartbeat timeout loses the groups it led; resumed, it finds its
// leaders silent for seconds: its silence watch asks the others, who hear
// from their leaders, and does nothing, and the elections its Raft
// timeouts start are stopped by pre-vote before they reach the other
// voters' terms. Every group it did not lead keeps its leader and term.
func TestPausedFollowerDoesNotDeposeLeaders(t *testing.T) {
	slow(t)
	// Doubled timings: the test asserts that no leadership moves, which a
	// loaded machine must not do on its own meanwhile.
	procs := startProcClusterFlags(t, 3, "--raft-timing-multiplier", "2")
	ids := []string{procs[0].id, procs[1].id, procs[2].id}
	admin := newClientAddrs(t, procAddrs(procs))
	declareQueue(t, admin, "steady", nil)
	waitProcLeadersSpread(t, admin, procs)
	paused := procs[2]
	watcher := newClient(t, procs[0].grpcAddr)

	before := waitHealthy(t, watcher, ids, 50)
	type held struct {
		leader string
		term   uint64
	}
	kept := map[string]held{}
	for _, g := range before.Groups {
		if g.LeaderID != paused.id {
			kept[g.Name] = held{g.LeaderID, g.Term}
		}
	}
	if err := paused.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = paused.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	// The groups the paused node led elect other leaders: a heartbeat
	// timeout has passed for every group.
	eventually(t, 60*time.Second, "the paused node's groups led elsewhere", func() error {
		st, err := watcher.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		for _, g := range st.Groups {
			if g.LeaderID == "" || g.LeaderID == paused.id {
				return fmt.Errorf("group %s led by %q", g.Name, g.LeaderID)
			}
		}
		return nil
	})
	if err := paused.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	after := waitHealthy(t, watcher, ids, 50)
	for _, g := range after.Groups {
		if h, ok := kept[g.Name]; ok && (g.LeaderID != h.leader || g.Term != h.term) {
			t.Errorf("group %s: leader %s term %d before the pause, %s term %d after", g.Name, h.leader, h.term, g.LeaderID, g.Term)
		}
	}
}

// TestPublishAndConsumeWhileLeaderPaused: the leader of a queue's group is
// paused (SIGSTOP: silent, its connections open) and stays paused;
// through the other nodes a message published after the pause is
// confirmed and delivered. Publishes held by a node that forwarded them to
// the silent leader are cut off when the leadership moves, and the
// consumer's stream, silent with its leader, is replaced.
func TestPublishAndConsumeWhileLeaderPaused(t *testing.T) {
	slow(t)
	_, leader, followers := clusterWithQueue(t, "silent")
	addrs := []string{followers[0].grpcAddr, followers[1].grpcAddr}
	prod, cons := newClientAddrs(t, addrs), newClientAddrs(t, []string{addrs[1], addrs[0]})
	waitQueueKnown(t, cons, "silent")

	var mu sync.Mutex
	var paused time.Time
	gotAfter := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cons.Consume(ctx, "silent", func(_ context.Context, d *client.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			if !paused.IsZero() && !bodyTime(d.Body).Before(paused) {
				select {
				case <-gotAfter:
				default:
					close(gotAfter)
				}
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 10})
	}()
	publish(t, prod, "", "silent", client.Message{Body: timeBody(time.Now())}, client.Confirmed)

	mu.Lock()
	paused = time.Now()
	mu.Unlock()
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leader.cmd.Process.Signal(syscall.SIGCONT) }()
	// Publish until one sent after the pause is delivered (each publish
	// is retried by the SDK until its deadline).
	deadline := time.Now().Add(scaled(60 * time.Second))
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
		_, err := prod.Publish(pctx, "", "silent", client.Message{Body: timeBody(time.Now())})
		pcancel()
		if err != nil {
			t.Logf("publish while the leader is paused: %v", err)
		}
		select {
		case <-gotAfter:
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consume: %v", err)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing published after the pause was delivered within %v", scaled(60*time.Second))
		}
	}
}

// timeBody is a body holding t, for bodyTime.
func timeBody(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func bodyTime(b []byte) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

// TestConsumeStreamsLeaveAPausedLeader: the leader of a queue's group is
// paused (SIGSTOP) under two consumers connected to a follower, one
// consuming at the leader directly (the SDK's default) and one through the
// follower, which proxies its stream. Their heartbeat limit is four
// minutes, so neither stream can end on its own silence: each ends because
// its node learnt of the new leader — the direct one told on the session
// stream, the proxied one ended by the follower — and says so.
func TestConsumeStreamsLeaveAPausedLeader(t *testing.T) {
	slow(t)
	_, leader, followers := clusterWithQueue(t, "paused")
	direct := newClient(t, followers[0].grpcAddr, client.WithConsumeHeartbeat(time.Minute))
	proxied := newClient(t, followers[0].grpcAddr, client.WithConsumeHeartbeat(time.Minute), client.WithoutDirectConsume())
	waitQueueKnown(t, direct, "paused")
	subs := map[string]*client.Subscription{
		"direct":  subscribe(t, direct, "paused", client.ConsumeOptions{Prefetch: 10}),
		"proxied": subscribe(t, proxied, "paused", client.ConsumeOptions{Prefetch: 10}),
	}
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leader.cmd.Process.Signal(syscall.SIGCONT) }()
	for name, sub := range subs {
		select {
		case <-sub.Done():
		case <-time.After(scaled(60 * time.Second)):
			t.Fatalf("the %s stream at the paused leader did not end", name)
		}
		if err := sub.Err(); err == nil || !strings.Contains(err.Error(), "leader of queue group") || !strings.Contains(err.Error(), "moved") {
			t.Errorf("the %s stream ended with %v, want the leader's move named", name, err)
		}
	}
}

// TestClientLeavesAPausedNode: the node of a client with a session (it
// consumes) is paused (SIGSTOP: its connections stay open and silent).
// With keepalives too slow to notice within the test (two minutes), the
// client still moves to its next address, because its session stream
// stops hearing heartbeats, and a publish through it is confirmed while
// the node is paused.
func TestClientLeavesAPausedNode(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 3)
	admin := newClient(t, procs[1].grpcAddr)
	declareQueue(t, admin, "moving", nil)
	ctx, cancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
	defer cancel()
	c, err := client.New(ctx, []string{procs[0].grpcAddr, procs[1].grpcAddr, procs[2].grpcAddr}, client.WithKeepalive(2*time.Minute, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	waitQueueKnown(t, c, "moving")
	subscribe(t, c, "moving", client.ConsumeOptions{Prefetch: 1}) // opens the session
	if c.Addr() != procs[0].grpcAddr {
		t.Fatalf("client on %s, want %s", c.Addr(), procs[0].grpcAddr)
	}
	if err := procs[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = procs[0].cmd.Process.Signal(syscall.SIGCONT) }()
	eventually(t, 60*time.Second, "the client moved off the paused node", func() error {
		if a := c.Addr(); a == procs[0].grpcAddr || c.State() != client.Connected {
			return fmt.Errorf("client on %s, %v", a, c.State())
		}
		return nil
	})
	publish(t, c, "", "moving", client.Message{Body: []byte("after")}, client.Confirmed)
}
