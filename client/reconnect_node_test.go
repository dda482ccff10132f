package client_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/transport"
	"github.com/warrenmq/warren/transport/transporttest"
	"github.com/warrenmq/warren/transport/warrenpb"
)

// nodeTimeout bounds each of these tests; real nodes elect leaders and
// fsync, so it is generous (and scaled by WARREN_TEST_TIMEOUT_SCALE).
func nodeTimeout() time.Duration { return 30 * time.Second * transporttest.TimeoutScale() }

// states records what a WithStateChange callback reported.
type states struct {
	mu  sync.Mutex
	got []client.State
}

func (s *states) record(st client.State) {
	s.mu.Lock()
	s.got = append(s.got, st)
	s.mu.Unlock()
}

// sawFailover reports whether Reconnecting was reported and later Connected.
func (s *states) sawFailover() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.got, client.Reconnecting)
	return i >= 0 && slices.Contains(s.got[i+1:], client.Connected)
}

// poll calls cond every few milliseconds until it holds or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFailoverToAnotherNode: two independent single nodes A and B; the
// client connected to A moves to B when A stops, and its next calls succeed
// there.
func TestFailoverToAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout())
	defer cancel()
	a := transporttest.Start(t, transporttest.Options{NodeID: "node-a"})
	b := transporttest.Start(t, transporttest.Options{NodeID: "node-b"})
	rawB := b.Dial(t)
	for _, api := range []warrenpb.BrokerServiceClient{a.Dial(t), rawB} {
		if _, err := api.DeclareQueue(ctx, &warrenpb.DeclareQueueRequest{Name: "q"}); err != nil {
			t.Fatal(err)
		}
	}
	var st states
	c, err := client.New(ctx, []string{a.Addr, b.Addr},
		client.WithStateChange(st.record), client.WithReconnectBackoff(10*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Addr() != a.Addr {
		t.Fatalf("connected to %s, want A (%s)", c.Addr(), a.Addr)
	}
	if _, err := c.ClusterStatus(ctx); err != nil {
		t.Fatal(err)
	}

	a.Stop()
	if _, err := c.DeclareQueue(ctx, "q", client.QueueOptions{}); err != nil {
		t.Fatalf("DeclareQueue after A stopped: %v", err)
	}
	if res, err := c.Publish(ctx, "", "q", client.Message{Body: []byte("after failover")}); err != nil || res.Status != client.Confirmed {
		t.Fatalf("Publish after A stopped = %v, %v", res, err)
	}
	if c.Addr() != b.Addr {
		t.Fatalf("connected to %s, want B (%s)", c.Addr(), b.Addr)
	}
	got, err := rawB.Get(ctx, &warrenpb.GetRequest{Queue: "q", AutoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.GetDelivery().GetMessage().GetBody()) != "after failover" {
		t.Fatalf("B holds %v, want the message published after the failover", got.GetDelivery())
	}
	poll(t, ctx, "Reconnecting then Connected", st.sawFailover)
}

// fixedNode is a node serving gRPC on an address that survives a restart
// (transporttest picks a new port each time).
type fixedNode struct {
	node   *broker.Broker
	gs     *grpc.Server
	served chan struct{}
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startFixedNode starts a single node over dir, with Raft on raftAddr and
// gRPC on addr, the way transporttest.StartMain does, and serves it once it
// is ready. The node stops at cleanup.
func startFixedNode(t *testing.T, ctx context.Context, dir, addr, raftAddr string) *fixedNode {
	t.Helper()
	cfg := broker.DefaultConfig()
	c := &cfg.Cluster
	c.NodeID = "restart-node"
	c.DataDir = dir
	c.RaftAddr = raftAddr
	c.GossipAddr = "127.0.0.1:0"
	c.GossipLocal = true
	c.GRPCAddr = addr
	c.ReconcileInterval = 200 * time.Millisecond
	c.Group = raftgroup.FastConfig()
	c.Logger = hclog.NewNullLogger()
	var node *broker.Broker
	var err error
	// The Raft port of the previous run may take a moment to be free.
	poll(t, ctx, "the node to start", func() bool {
		node, err = broker.Start(cfg)
		return err == nil || !errors.Is(err, syscall.EADDRINUSE)
	})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	n := &fixedNode{node: node, served: make(chan struct{})}
	t.Cleanup(n.stop)
	if err := node.WaitReady(ctx); err != nil {
		t.Fatalf("node not ready: %v", err)
	}
	var ln net.Listener
	poll(t, ctx, "the gRPC port", func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	limits := transport.DefaultLimits()
	n.gs = grpc.NewServer(transport.GRPCOptions(limits)...)
	transport.NewServer(node, limits, nil).Register(n.gs)
	go func() {
		defer close(n.served)
		_ = n.gs.Serve(ln)
	}()
	return n
}

// stop stops serving at once (clients see their connections drop) and closes
// the node; idempotent.
func (n *fixedNode) stop() {
	if n.gs != nil {
		n.gs.Stop()
		<-n.served
		n.gs = nil
	}
	if n.node != nil {
		_ = n.node.Close()
		n.node = nil
	}
}

// TestReconnectAfterNodeRestart: the only node stops and comes back on the
// same address and data. A running Consume re-subscribes and receives what
// is published after the restart, and PublishAsync futures issued while the
// node was down complete once it is back.
func TestReconnectAfterNodeRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout())
	defer cancel()
	dir, addr, raftAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	n := startFixedNode(t, ctx, dir, addr, raftAddr)

	var st states
	c, err := client.New(ctx, []string{addr},
		client.WithStateChange(st.record), client.WithReconnectBackoff(10*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.DeclareQueue(ctx, "rq", client.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "", "rq", client.Message{Body: []byte("before")}); err != nil {
		t.Fatal(err)
	}

	bodies := make(chan string, 64)
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumed := make(chan error, 1)
	go func() {
		consumed <- c.Consume(cctx, "rq", func(ctx context.Context, d *client.Delivery) error {
			select {
			case bodies <- string(d.Body):
			case <-ctx.Done():
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 10})
	}()
	if b := recvBody(t, ctx, bodies); b != "before" {
		t.Fatalf("first delivery %q, want before", b)
	}

	n.stop()
	var futs []*client.PublishFuture
	for _, body := range []string{"down-1", "down-2", "down-3"} {
		futs = append(futs, c.PublishAsync(ctx, "", "rq", client.Message{Body: []byte(body)}))
	}
	startFixedNode(t, ctx, dir, addr, raftAddr)
	for i, f := range futs {
		if res, err := f.Wait(ctx); err != nil || res.Status != client.Confirmed {
			t.Fatalf("publish %d issued while down = %v, %v; want confirmed", i, res, err)
		}
	}
	if _, err := c.Publish(ctx, "", "rq", client.Message{Body: []byte("after")}); err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{"down-1": true, "down-2": true, "down-3": true, "after": true}
	for len(want) > 0 {
		b := recvBody(t, ctx, bodies)
		delete(want, b) // "before" may come again if its ack was lost
	}
	select {
	case err := <-consumed:
		t.Fatalf("Consume returned %v while its ctx was live", err)
	default:
	}
	stopConsume()
	select {
	case err := <-consumed:
		if err != nil {
			t.Fatalf("Consume = %v, want nil after cancel", err)
		}
	case <-ctx.Done():
		t.Fatal("Consume did not return after cancel")
	}
	poll(t, ctx, "Reconnecting then Connected", st.sawFailover)
}

func recvBody(t *testing.T, ctx context.Context, bodies <-chan string) string {
	t.Helper()
	select {
	case b := <-bodies:
		return b
	case <-ctx.Done():
		t.Fatal("timed out waiting for a delivery")
		return ""
	}
}
