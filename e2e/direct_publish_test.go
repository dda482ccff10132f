package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// publishCalls counts the Publish calls a node answered.
type publishCalls struct{ n atomic.Int64 }

func (p *publishCalls) PublishAnswered(time.Duration, int) { p.n.Add(1) }

// publishSync publishes n messages to queue one at a time, each confirmed.
func publishSync(t *testing.T, c *client.Client, queue, prefix string, n int) {
	t.Helper()
	ctx := testCtx(t, 60*time.Second)
	for i := range n {
		res, err := c.Publish(ctx, "", queue, client.Message{Body: []byte(prefix + strconv.Itoa(i))})
		if err != nil || res.Status != client.Confirmed {
			t.Fatalf("publish %s%d: %v %v", prefix, i, res, err)
		}
	}
}

// TestPublishGoesToTheLeader: a client connected to a follower of its
// queue's group sends its first publish there (forwarded), and the next
// ones to the leader the answer names, on a direct connection: the
// follower answers no more of them. WithoutDirectPublish keeps them on the
// follower. When the leader dies, publishes go through the follower again,
// to the new leader.
func TestPublishGoesToTheLeader(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	waitLeadersSpread(t, nodes)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr)
	}
	admin := newClientAddrs(t, addrs) // one of them is about to die
	declareQueue(t, admin, "direct", nil)
	calls := make([]*publishCalls, len(nodes))
	for i, n := range nodes {
		calls[i] = &publishCalls{}
		n.API.SetObserver(calls[i])
	}
	// The queue's group may still change leaders while the cluster
	// settles (a second election in its first moments): an attempt during
	// which the leader moved says nothing about where publishes go, and is
	// made again, with a new client, at a follower of the new leader.
	var leader, follower, sent int
	var prod *client.Client
	for attempt := 1; ; attempt++ {
		leader = queueLeader(t, nodes, "direct")
		follower = (leader + 1) % len(nodes)
		var ok bool
		prod, ok = publishThroughFollower(t, nodes, calls, leader, follower, &sent)
		if ok {
			break
		}
		if attempt == 3 {
			t.Fatalf("the leader of the queue's group moved during each of %d attempts", attempt)
		}
	}

	forwarded := newClient(t, nodes[follower].Addr, client.WithoutDirectPublish())
	waitQueueKnown(t, forwarded, "direct")
	was := calls[follower].n.Load()
	publishSync(t, forwarded, "direct", "forwarded-", 5)
	if got := calls[follower].n.Load() - was; got != 5 {
		t.Errorf("without direct publish the follower answered %d of 5 publishes, want all", got)
	}

	// The leader dies: the direct connection fails, and the publishes go
	// through the follower, which forwards them to the new leader (or, once
	// an answer names it, to the new leader directly).
	nodes[leader].Stop()
	publishSync(t, prod, "direct", "after-", 10)
	waitCounts(t, admin, "direct", uint64(sent+5+10), 0)
}

// publishThroughFollower connects a producer to the follower and checks
// that its first publish goes there and, once the leader answered one, the
// next 20 go to the leader alone. It counts what it published in sent, and
// reports false, checking nothing, when the queue's leader was another
// node by the end.
func publishThroughFollower(t *testing.T, nodes []*transporttest.Node, calls []*publishCalls, leader, follower int, sent *int) (*client.Client, bool) {
	t.Helper()
	prod := newClient(t, nodes[follower].Addr)
	waitQueueKnown(t, prod, "direct")
	firstFollower := calls[follower].n.Load()
	publishSync(t, prod, "direct", "first-"+strconv.Itoa(*sent)+"-", 1)
	*sent++
	gotFirst := calls[follower].n.Load() - firstFollower
	// The answer named the leader. The SDK dials it in the background and
	// publishes through the follower until that connection is up.
	fromLeader := calls[leader].n.Load()
	eventually(t, 10*time.Second, "a publish answered by the leader", func() error {
		publishSync(t, prod, "direct", "until-"+strconv.Itoa(*sent)+"-", 1)
		*sent++
		if calls[leader].n.Load() == fromLeader {
			return fmt.Errorf("the leader answered none of %d publishes", *sent)
		}
		return nil
	})
	fromFollower, fromLeader := calls[follower].n.Load(), calls[leader].n.Load()
	publishSync(t, prod, "direct", "next-"+strconv.Itoa(*sent)+"-", 20)
	*sent += 20
	byFollower, byLeader := calls[follower].n.Load()-fromFollower, calls[leader].n.Load()-fromLeader
	if queueLeader(t, nodes, "direct") != leader {
		return prod, false
	}
	if gotFirst != 1 {
		t.Fatalf("the follower answered %d of the first publish, want it", gotFirst)
	}
	if byFollower != 0 {
		t.Errorf("the follower answered %d publishes once the leader did, want none", byFollower)
	}
	if byLeader != 20 {
		t.Errorf("the leader answered %d of the next 20 publishes, want all", byLeader)
	}
	return prod, true
}

// TestDirectPublishLeavesAPausedLeader: a producer connected to a follower
// publishes at the queue's leader directly; the leader is paused (SIGSTOP:
// silent, its connections open). The next publish is confirmed within
// seconds, through the follower and the new leader, not after gRPC's
// keepalive (15 s) would tell that the leader's connection is dead.
func TestDirectPublishLeavesAPausedLeader(t *testing.T) {
	slow(t)
	_, leader, followers := clusterWithQueue(t, "paused-pub")
	prod := newClient(t, followers[0].grpcAddr)
	waitQueueKnown(t, prod, "paused-pub")
	publishSync(t, prod, "paused-pub", "before-", 3) // the answers name the leader
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = leader.cmd.Process.Signal(syscall.SIGCONT) }()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(8*time.Second))
	defer cancel()
	res, err := prod.Publish(ctx, "", "paused-pub", client.Message{Body: []byte("after")})
	if err != nil || res.Status != client.Confirmed {
		t.Fatalf("publish after the leader was paused: %v %v (after %v)", res, err, time.Since(start))
	}
	t.Logf("confirmed %v after the leader was paused", time.Since(start).Round(time.Millisecond))
}
