package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/netlab"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Helpers for the partition tests: warren-node processes on netlab hosts,
// clients dialling through a client host, and a confirming producer.

// Fixed ports: each node has a host, and so a network stack, of its own.
const (
	labGRPCPort   = "5680"
	labRaftPort   = "5681"
	labGossipPort = "5682"
)

// labNode is a warren-node process on a lab host.
type labNode struct {
	id       string
	host     *netlab.Host
	grpcAddr string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
}

func (n *labNode) log() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// startLabCluster starts one node per host with --bootstrap-expect, each
// joining all, and waits until each serves reads through client host ch.
// The nodes are killed at cleanup (before the lab is closed).
func startLabCluster(t *testing.T, hosts []*netlab.Host, ch *netlab.Host) []*labNode {
	t.Helper()
	var join []string
	for _, h := range hosts {
		join = append(join, net.JoinHostPort(h.IP, labGossipPort))
	}
	nodes := make([]*labNode, len(hosts))
	for i, h := range hosts {
		n := &labNode{
			id: "n" + strconv.Itoa(i+1), host: h,
			grpcAddr: net.JoinHostPort(h.IP, labGRPCPort),
			logPath:  filepath.Join(t.TempDir(), "node.log"),
		}
		nodes[i] = n
		logf, err := os.Create(n.logPath)
		if err != nil {
			t.Fatal(err)
		}
		n.cmd = h.Command(context.Background(), nodeBinary,
			"--id", n.id,
			"--data-dir", t.TempDir(),
			"--grpc-addr", n.grpcAddr,
			"--raft-addr", net.JoinHostPort(h.IP, labRaftPort),
			"--gossip-addr", net.JoinHostPort(h.IP, labGossipPort),
			"--queue-groups", "4",
			"--session-grace", "500ms",
			"--bootstrap-expect", strconv.Itoa(len(hosts)),
			"--join", strings.Join(join, ","),
			"--zone", "z"+strconv.Itoa(i+1),
			"--insecure", // namespace hosts on this machine; no TLS
			// The clients log in as guest, whom a node admits from
			// loopback only, and the namespaces' addresses are not
			// loopback; this test is about partitions, not access.
			"--no-auth",
		)
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		err = n.cmd.Start()
		logf.Close() // the child has its own copy
		if err != nil {
			t.Fatalf("start %s: %v", n.id, err)
		}
		n.exited = make(chan struct{})
		go func() {
			n.waitErr = n.cmd.Wait()
			close(n.exited)
		}()
		t.Cleanup(func() {
			_ = n.cmd.Process.Kill()
			<-n.exited
			if t.Failed() {
				t.Logf("%s (%s) log:\n%s", n.id, h.IP, n.log())
			}
		})
	}
	for _, n := range nodes {
		eventually(t, 60*time.Second, n.id+" serving", func() error {
			select {
			case <-n.exited:
				t.Fatalf("%s exited: %v", n.id, n.waitErr)
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
			defer cancel()
			c, err := client.New(ctx, []string{n.grpcAddr}, labDialer(ch), client.WithConnectTimeout(time.Second))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ListQueues(ctx)
			return err
		})
	}
	return nodes
}

// labDialer makes the SDK dial from inside host h's namespace.
func labDialer(h *netlab.Host) client.Option {
	return client.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return h.DialContext(ctx, "tcp", addr)
	}))
}

// labClient connects the SDK from host h to addrs (tried in order); it is
// closed at cleanup.
func labClient(t *testing.T, h *netlab.Host, addrs ...string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
	defer cancel()
	c, err := client.New(ctx, addrs, labDialer(h), client.WithConnectTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("client.New(%v) from %s: %v", addrs, h.Name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// labRaw is a plain gRPC client of the broker API at addr, dialled from h:
// no SDK retries, so the test sees exactly what one node answers.
func labRaw(t *testing.T, h *netlab.Host, addr string) pb.BrokerServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return h.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return pb.NewBrokerServiceClient(cc)
}

// groupStatus returns the named group as the node behind c sees it.
func groupStatus(ctx context.Context, c *client.Client, group string) (client.GroupStatus, error) {
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		return client.GroupStatus{}, err
	}
	for _, g := range st.Groups {
		if g.Name == group {
			return g, nil
		}
	}
	return client.GroupStatus{}, fmt.Errorf("node %s lists no group %s", st.NodeID, group)
}

// labLeadersAtRest waits until every queue group has a leader and no node
// leads two groups more than another: then the nodes' leader spreading
// (cluster.rebalanceLeaders) moves no leadership by itself.
func labLeadersAtRest(t *testing.T, c *client.Client, nodes []*labNode) {
	t.Helper()
	eventually(t, 30*time.Second, "queue-group leaders at rest", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
		defer cancel()
		st, err := c.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for _, n := range nodes {
			per[n.id] = 0
		}
		for _, g := range st.Groups {
			if g.Name == "meta" {
				continue
			}
			if g.LeaderID == "" {
				return fmt.Errorf("group %s has no leader", g.Name)
			}
			per[g.LeaderID]++
		}
		lo, hi := len(st.Groups), 0
		for _, n := range per {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 {
			return fmt.Errorf("groups led per node: %v", per)
		}
		return nil
	})
}

// partitionProducer publishes "p-<i>" with confirms, one after another,
// until stopped, and records which were confirmed and when. Each publish
// may take producerPublishWait: longer than the SDK waits (10 s) before it
// leaves a node that keeps answering NOT_LEADER, so a publish stuck on the
// cut-off node moves to another node instead of giving up first.
type partitionProducer struct {
	mu        sync.Mutex
	confirmed map[int]time.Time
	attempted int
	failures  []string // first few errors, for the log
	stop      context.CancelFunc
	done      chan struct{}
}

// maxPartitionPublishes bounds the producer (it paces itself at about
// 50 publishes a second, so a normal run stays well below).
const (
	maxPartitionPublishes = 3000
	producerPublishWait   = 30 * time.Second
)

func startPartitionProducer(c *client.Client, queue string) *partitionProducer {
	stopCtx, stop := context.WithCancel(context.Background())
	p := &partitionProducer{confirmed: map[int]time.Time{}, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		pace := time.NewTicker(20 * time.Millisecond)
		defer pace.Stop()
		for i := 0; i < maxPartitionPublishes; i++ {
			ctx, cancel := context.WithTimeout(stopCtx, scaled(producerPublishWait))
			res, err := c.Publish(ctx, "", queue, client.Message{Body: []byte("p-" + strconv.Itoa(i))})
			cancel()
			p.mu.Lock()
			p.attempted = i + 1
			if err == nil && res.Status == client.Confirmed {
				p.confirmed[i] = time.Now()
			} else if len(p.failures) < 5 {
				p.failures = append(p.failures, fmt.Sprintf("p-%d: %v %v", i, res.Status, err))
			}
			p.mu.Unlock()
			select {
			case <-stopCtx.Done():
				return
			case <-pace.C:
			}
		}
	}()
	return p
}

// confirmedSince counts the confirms at or after t.
func (p *partitionProducer) confirmedSince(t time.Time) (n int, first time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, at := range p.confirmed {
		if !at.Before(t) {
			n++
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
	}
	return n, first
}

// halt stops the producer, cancelling a publish in flight (its outcome
// stays unknown), and waits for it.
func (p *partitionProducer) halt() {
	p.stop()
	<-p.done
}
