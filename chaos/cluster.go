package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/warrenmq/warren/internal/freeport"
	"github.com/warrenmq/warren/internal/netlab"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// Fixed ports of a node inside its own network namespace.
const (
	labGRPCPort   = "5680"
	labRaftPort   = "5681"
	labGossipPort = "5682"
	labAMQPPort   = "5672"
	// labName prefixes the lab's namespaces (netlab allows 6 characters).
	labName = "chaos"
)

// cluster is the set of warren-node processes of a run, on loopback with
// OS-picked ports, or each in its own network namespace of a netlab lab
// (for partitions), with the harness reaching them from a client
// namespace.
type cluster struct {
	o     Options
	nodes []*node
	lab   *netlab.Lab  // nil on loopback
	cli   *netlab.Host // the client namespace; nil on loopback
	// dialOpts make every connection of the harness and the workload: in
	// a lab they dial from inside the client namespace.
	dialOpts []grpc.DialOption
}

// startCluster starts o.Nodes nodes with --bootstrap-expect and --join and
// waits until every one serves. withLab runs them in network namespaces.
func startCluster(ctx context.Context, o Options, withLab bool) (_ *cluster, err error) {
	c := &cluster{o: o}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.dialOpts = []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Reconnect to a restarted node within a second, not after
		// gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
	if withLab {
		if c.lab, err = netlab.New(labName, o.Nodes+1); err != nil {
			return nil, err
		}
		hosts := c.lab.Hosts()
		c.cli = hosts[o.Nodes]
		c.dialOpts = append(c.dialOpts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.cli.DialContext(ctx, "tcp", addr)
		}))
	}
	for i := range o.Nodes {
		n := newNode("n"+strconv.Itoa(i+1), o.DataDir, o.NodeBinary)
		if err := os.MkdirAll(n.dataDir, 0o750); err != nil {
			return nil, err
		}
		if c.lab != nil {
			n.host = c.lab.Hosts()[i]
		}
		c.nodes = append(c.nodes, n)
	}
	// On loopback a port picked free may be taken before the node binds
	// it; then every node starts again on new ports (the join list names
	// them all).
	for attempt := 0; ; attempt++ {
		err = c.launchAll(ctx)
		if err == nil {
			return c, nil
		}
		if c.lab != nil || attempt == 4 || !slices.ContainsFunc(c.nodes, (*node).bindFailed) {
			return nil, err
		}
		fmt.Fprintf(o.Log, "chaos: a port was taken, starting the cluster again on other ports: %v\n", err)
		c.killAll()
	}
}

// launchAll assigns addresses, starts every node and waits until all serve.
func (c *cluster) launchAll(ctx context.Context) error {
	var join []string
	for _, n := range c.nodes {
		if c.lab != nil {
			ip := n.host.IP
			n.grpcAddr, n.raftAddr, n.gossipAddr = net.JoinHostPort(ip, labGRPCPort), net.JoinHostPort(ip, labRaftPort), net.JoinHostPort(ip, labGossipPort)
			n.amqpAddr = net.JoinHostPort(ip, labAMQPPort)
		} else {
			var err error
			if n.grpcAddr, err = freeport.TCP(); err != nil {
				return err
			}
			if n.amqpAddr, err = freeport.TCP(); err != nil {
				return err
			}
			if n.raftAddr, err = freeport.TCP(); err != nil {
				return err
			}
			if n.gossipAddr, err = freeport.Gossip(); err != nil {
				return err
			}
		}
		join = append(join, n.gossipAddr)
	}
	for i, n := range c.nodes {
		n.flags = []string{
			"--bootstrap-expect", strconv.Itoa(len(c.nodes)),
			"--join", strings.Join(join, ","),
			"--zone", string(rune('a' + i%3)),
		}
		if c.o.UnsafeAckBeforeFsync {
			n.flags = append(n.flags, "--unsafe-ack-before-fsync")
		}
		n.flags = append(n.flags, c.o.NodeFlags...)
		if n.conn != nil {
			n.conn.Close()
		}
		conn, err := grpc.NewClient(n.grpcAddr, c.dialOpts...)
		if err != nil {
			return err
		}
		n.conn, n.api = conn, pb.NewBrokerServiceClient(conn)
	}
	for _, n := range c.nodes {
		if err := n.launch(); err != nil {
			return err
		}
	}
	return c.waitServing(ctx, c.nodes, c.o.scaled(90*time.Second))
}

// waitServing waits, in parallel, until every node of ns serves.
func (c *cluster) waitServing(ctx context.Context, ns []*node, timeout time.Duration) error {
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.waitServing(ctx, timeout)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// restart starts the stopped nodes ns again (same ports and data) and waits
// until they serve. On loopback a port that someone else took meanwhile is
// retried a few times.
func (c *cluster) restart(ctx context.Context, ns []*node) error {
	pending := slices.Clone(ns)
	for attempt := 0; ; attempt++ {
		for _, n := range pending {
			if err := n.launch(); err != nil {
				return err
			}
		}
		err := c.waitServing(ctx, pending, c.o.scaled(90*time.Second))
		if err == nil {
			return nil
		}
		failed := slices.DeleteFunc(slices.Clone(pending), func(n *node) bool { return !n.bindFailed() })
		if len(failed) == 0 || attempt == 5 {
			return err
		}
		fmt.Fprintf(c.o.Log, "chaos: port of %s taken, retrying its restart\n", failed[0].id)
		pending = failed
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// amqpAddrs returns every node's AMQP address.
func (c *cluster) amqpAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.amqpAddr
	}
	return out
}

// grpcAddrs returns every node's client address.
func (c *cluster) grpcAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.grpcAddr
	}
	return out
}

// killAll kills every node process and waits for them.
func (c *cluster) killAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.kill(); err != nil {
				fmt.Fprintf(c.o.Log, "chaos: %v\n", err)
			}
		}()
	}
	wg.Wait()
}

// dumpStacks makes every running node write its goroutines to its log and
// exit (SIGQUIT; a paused node is resumed first), and waits for them.
func (c *cluster) dumpStacks() {
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		_ = n.signal(syscall.SIGCONT)
		if err := n.signal(syscall.SIGQUIT); err != nil {
			continue
		}
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		select {
		case <-exited:
			fmt.Fprintf(c.o.Log, "chaos: %s wrote its goroutines to %s\n", n.id, n.logPath)
		case <-time.After(10 * time.Second):
			fmt.Fprintf(c.o.Log, "chaos: %s did not exit on SIGQUIT within 10s\n", n.id)
		}
	}
}

// close kills every node and removes the lab.
func (c *cluster) close() {
	c.killAll()
	for _, n := range c.nodes {
		if n.conn != nil {
			n.conn.Close()
		}
	}
	if c.lab != nil {
		if err := c.lab.Close(); err != nil {
			fmt.Fprintf(c.o.Log, "chaos: closing the network lab: %v\n", err)
		}
	}
}

// nodeByID returns the node with id, or nil.
func (c *cluster) nodeByID(id string) *node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// queueGroup returns the Raft group name ("q2") of queue, asking the
// nodes in turn.
func (c *cluster) queueGroup(ctx context.Context, queue string) (string, error) {
	var errs []error
	for _, n := range c.nodes {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := n.api.ListQueues(cctx, &pb.ListQueuesRequest{})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.id, err))
			continue
		}
		for _, q := range resp.GetQueues() {
			if q.GetName() == queue {
				return "q" + strconv.Itoa(int(q.GetGroup())), nil
			}
		}
		errs = append(errs, fmt.Errorf("%s does not list queue %s", n.id, queue))
	}
	return "", errors.Join(errs...)
}

// groupLeader returns the node that leads group: the leader named by a node
// that is up and that names itself too.
func (c *cluster) groupLeader(ctx context.Context, group string, up func(*node) bool) (*node, error) {
	var errs []error
	for _, n := range c.nodes {
		if !up(n) {
			continue
		}
		st, err := n.status(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, g := range st.GetGroups() {
			if g.GetName() != group || g.GetLeaderId() == "" {
				continue
			}
			l := c.nodeByID(g.GetLeaderId())
			if l == nil || !up(l) {
				continue
			}
			if ls, err := l.status(ctx); err == nil && leaderOf(ls, group) == l.id {
				return l, nil
			}
		}
	}
	errs = append(errs, fmt.Errorf("group %s has no leader that is up", group))
	return nil, errors.Join(errs...)
}

// statusTimeout bounds a ClusterStatus call. The answering node asks its
// alive peers for their indexes, each bounded by a second, so under a
// partition an answer takes about that long.
const statusTimeout = 3 * time.Second

// status asks n alone for its view of the cluster.
func (n *node) status(ctx context.Context) (*pb.ClusterStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := n.api.ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: cluster status: %w", n.id, err)
	}
	return st, nil
}

func leaderOf(st *pb.ClusterStatusResponse, group string) string {
	for _, g := range st.GetGroups() {
		if g.GetName() == group {
			return g.GetLeaderId()
		}
	}
	return ""
}

// healthy returns nil when every node runs unpaused, serves, sees every
// member alive, and every group has a leader that agrees it leads.
func (c *cluster) healthy(ctx context.Context) error {
	views := make(map[string]*pb.ClusterStatusResponse, len(c.nodes))
	for _, n := range c.nodes {
		if err := n.exitedErr(); err != nil {
			return err
		}
		st, err := n.status(ctx)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range st.GetMembers() {
			if m.GetState() == "alive" {
				alive++
			}
		}
		if alive < len(c.nodes) {
			return fmt.Errorf("%s sees %d of %d members alive", n.id, alive, len(c.nodes))
		}
		views[n.id] = st
	}
	for _, g := range views[c.nodes[0].id].GetGroups() {
		l := g.GetLeaderId()
		if l == "" || views[l] == nil || leaderOf(views[l], g.GetName()) != l {
			return fmt.Errorf("group %s has no agreed leader (n1 says %q)", g.GetName(), l)
		}
	}
	return nil
}

// waitHealthy polls healthy until it holds or timeout passes.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy after %v: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
