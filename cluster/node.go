package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/fsm"
)

// metaGroupName is the meta group's id on the Raft mux and on disk.
const metaGroupName = "meta"

// queueGroupName is queue group i's id on the Raft mux and on disk.
func queueGroupName(i int) string { return "q" + strconv.Itoa(i) }

// Node is one Warren server: the meta Raft group and K queue Raft groups
// over one Raft port. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	logger hclog.Logger
	mux    *Mux

	meta    *Group
	metaFSM *metaFSM
	// metaOpened closes once meta is set: Raft may report the meta
	// group's leadership before OpenGroup has returned it.
	metaOpened chan struct{}
	queues     []*queueGroup

	sessions *sessionRegistry
	// peers holds connections to other nodes for forwarding.
	peers *peerConns
	// members is the node's gossip membership; nil until Start has
	// opened the groups (read it with gossip()).
	members atomic.Pointer[membership]
	// transferFailed is when a leadership-spread transfer to a node last
	// failed (node id → time); owned by the reconcile loop.
	transferFailed map[string]time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	// left closes when Leave has removed the node from every group.
	left     chan struct{}
	leftOnce sync.Once
}

// Start opens (or creates) the node's groups under cfg.DataDir, starts
// Raft on cfg.RaftAddr and gossip on cfg.GossipAddr, and joins cfg.Join in
// the background. A node with no existing state bootstraps itself as the
// single voter of every group when cfg.BootstrapExpect is 1 and cfg.Join
// is empty; otherwise it forms a cluster with its peers or waits to be
// added to a running one (see formation.go). Start does not wait for
// any of that: WaitReady does.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:        cfg,
		logger:     logger,
		mux:        NewMux(ln, logger.Named("mux")),
		sessions:   newSessionRegistry(),
		peers:      newPeerConns(),
		metaOpened: make(chan struct{}),
		left:       make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.mux.Serve(); err != nil {
			logger.Error("raft port failed", "error", err)
		}
	}()
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	members, err := startMembership(cfg, n.RaftAddr(), logger, n.gossipState)
	if err != nil {
		n.Close()
		return nil, err
	}
	n.members.Store(members)
	n.startMembershipLoops()
	return n, nil
}

func (n *Node) open() error {
	n.metaFSM = newMetaFSM(n.cfg.QueueGroups, n.logger, n.fatal(metaGroupName))
	meta, err := OpenGroup(GroupOptions{
		Name: metaGroupName, NodeID: n.cfg.NodeID, DataDir: n.cfg.DataDir, FSM: n.metaFSM,
		Layer: n.mux.Layer(metaGroupName), Config: n.cfg.Group, Logger: n.logger, Bootstrap: n.bootstrapAlone(),
		OnLeadership:      n.onMetaLeadership,
		UnsafeUnsyncedLog: n.cfg.UnsafeUnsyncedLog,
	})
	if err != nil {
		return fmt.Errorf("meta group: %w", err)
	}
	n.meta = meta
	close(n.metaOpened)
	for i := 0; i < n.cfg.QueueGroups; i++ {
		qg, err := n.openQueueGroup(i)
		if err != nil {
			return fmt.Errorf("queue group %d: %w", i, err)
		}
		n.queues = append(n.queues, qg)
	}
	return nil
}

// fatal stops a group whose log holds an entry this build cannot apply:
// skipping it would let replicas diverge.
func (n *Node) fatal(group string) func(uint64, error) {
	return func(index uint64, err error) {
		n.logger.Error("cannot apply log entry; stopping the group", "group", group, "index", index, "error", err)
		go func() {
			if g := n.groupByName(group); g != nil {
				_ = g.Shutdown()
			}
		}()
	}
}

func (n *Node) groupByName(name string) *Group {
	if name == metaGroupName {
		return n.meta
	}
	for _, q := range n.queues {
		if q.group != nil && q.group.Name() == name {
			return q.group
		}
	}
	return nil
}

// WaitReady blocks until every group (meta and queue) has a known leader
// and this node's state is current, or ctx ends. A group this node leads
// is ready once its leader work has started (after a Barrier); on a
// follower, once this node has applied the commit index it learned when a
// leader was first known. A node that waits to bootstrap or to be added
// to a cluster is not ready until that has happened.
func (n *Node) WaitReady(ctx context.Context) error {
	if err := n.waitGroupReady(ctx, n.meta, nil); err != nil {
		return fmt.Errorf("meta group: %w", err)
	}
	for _, q := range n.queues {
		if err := q.waitReady(ctx); err != nil {
			return fmt.Errorf("queue group %s: %w", q.group.Name(), err)
		}
	}
	return nil
}

// RaftAddr is the address the Raft port listens on.
func (n *Node) RaftAddr() string { return n.mux.Addr().String() }

// Close leaves gossip (peers see the node as left) and stops every group
// and the Raft port. The node stays a voter of every group: a rolling
// restart never shrinks the cluster. Unacked deliveries stay in the log;
// they return to their queues when the node starts again.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		n.cancel()
		if m := n.gossip(); m != nil {
			errs = append(errs, m.leave())
		}
		for i := len(n.queues) - 1; i >= 0; i-- {
			errs = append(errs, n.queues[i].close())
		}
		if n.meta != nil {
			errs = append(errs, n.meta.Shutdown())
		}
		errs = append(errs, n.mux.Close())
		n.peers.close()
		n.wg.Wait()
	})
	return errors.Join(errs...)
}

// readMeta runs fn on the local meta state under its read lock.
func (n *Node) readMeta(fn func(m *fsm.Meta)) { n.metaFSM.read(fn) }

func (n *Node) queueGroup(i uint32) (*queueGroup, error) {
	if int(i) >= len(n.queues) {
		return nil, fmt.Errorf("%w: queue group %d does not exist on this node", fsm.ErrNotFound, i)
	}
	return n.queues[i], nil
}

// Drain ends every consume stream this node serves, with ErrShuttingDown
// (UNAVAILABLE to clients), and refuses new ones, so that a graceful stop
// of the gRPC server does not wait on streams that never end by
// themselves. Publishes and other calls keep working until Close.
func (n *Node) Drain() {
	for _, q := range n.queues {
		if d := q.fsm.disp.Load(); d != nil {
			d.Stop(ErrShuttingDown)
		}
	}
}
