package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// GroupSpec is one Raft group the node runs: its name (the mux group id
// and directory under <data-dir>/groups/), its state machine and its
// owner's hooks.
type GroupSpec struct {
	Name string
	FSM  raft.FSM
	// OnLeadership is raftgroup.Options.OnLeadership.
	OnLeadership func(isLeader bool)
	// LeaderReady, when set, closes once the owner serves as the group's
	// leader (its leader work runs after a Barrier); WaitReady waits for it
	// on the leader. When nil, WaitReady runs a Barrier itself.
	LeaderReady <-chan struct{}
}

// Node is one Warren server's place in the cluster: the Raft port, the
// node's Raft groups, gossip membership, formation and growth, leader
// spread, hand-off, removal and status. It runs the groups; what they hold
// is their owner's (package broker). Its methods are safe for concurrent
// use.
type Node struct {
	cfg    Config
	logger hclog.Logger
	mux    *raftgroup.Mux

	// meta is the group that holds the cluster-wide definitions: its
	// founders are gossiped, it is removed from last and its leadership
	// is not spread. queues are the groups whose leaders are spread.
	meta   *raftgroup.Group
	queues []*raftgroup.Group
	// specs[i] belongs to groups()[i].
	specs []GroupSpec

	// nodeAPI is the cluster port's channel for node-to-node gRPC.
	nodeAPI raft.StreamLayer
	// peers holds connections to other nodes, dialled through nodeAPI.
	peers *peerConns
	// membership is the node's gossip; nil until Start has
	// opened the groups (read it with gossip()).
	membership atomic.Pointer[membership]
	// keys is gossip's keyring (GossipKeys).
	keys *GossipKeyring

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	// left closes when Leave has removed the node from every group.
	left     chan struct{}
	leftOnce sync.Once
}

// Start opens (or creates) the meta group and the queue groups under
// cfg.DataDir, starts Raft on cfg.RaftAddr and gossip on cfg.GossipAddr,
// and joins cfg.Join in the background. A node with no existing state
// bootstraps itself as the single voter of every group when
// cfg.BootstrapExpect is 1 and cfg.Join is empty; otherwise it forms a
// cluster with its peers or waits to be added to a running one (see
// formation.go). Start does not wait for any of that: WaitReady does.
func Start(cfg Config, meta GroupSpec, queues []GroupSpec) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	// First, so that a keyring that does not load stops the node before
	// it opens anything.
	keys, err := openGossipKeyring(cfg, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		return nil, fmt.Errorf("raft listener: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:    cfg,
		logger: logger,
		mux:    newMux(ln, cfg, logger),
		keys:   keys,
		left:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	keys.node = n
	n.nodeAPI = n.mux.Layer(nodeAPIChannel)
	n.peers = newPeerConns(n.nodeAPI)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.mux.Serve(); err != nil {
			logger.Error("raft port failed", "error", err)
		}
	}()
	if err := n.open(meta, queues); err != nil {
		n.Close()
		return nil, err
	}
	members, err := startMembership(cfg, keys.memberlistKeyring(), n.RaftAddr(), logger, n.gossipState)
	if err != nil {
		n.Close()
		return nil, err
	}
	n.membership.Store(members)
	n.startMembershipLoops()
	return n, nil
}

// newMux is the cluster port: its connections are in TLS when the config
// says so, from the first byte.
func newMux(ln net.Listener, cfg Config, logger hclog.Logger) *raftgroup.Mux {
	m := raftgroup.NewMux(ln, logger.Named("mux"))
	m.TLSConfig = cfg.TLS
	return m
}

func (n *Node) open(meta GroupSpec, queues []GroupSpec) error {
	g, err := n.openGroup(meta)
	if err != nil {
		return fmt.Errorf("meta group: %w", err)
	}
	n.meta, n.specs = g, append(n.specs, meta)
	for _, spec := range queues {
		g, err := n.openGroup(spec)
		if err != nil {
			return fmt.Errorf("queue group %s: %w", spec.Name, err)
		}
		n.queues, n.specs = append(n.queues, g), append(n.specs, spec)
	}
	return nil
}

func (n *Node) openGroup(spec GroupSpec) (*raftgroup.Group, error) {
	return raftgroup.Open(raftgroup.Options{
		Name: spec.Name, NodeID: n.cfg.NodeID, DataDir: n.cfg.DataDir, FSM: spec.FSM,
		Layer: n.mux.Layer(spec.Name), Config: n.cfg.Group, Logger: n.logger, Bootstrap: n.cfg.bootstrapsAlone(),
		OnLeadership:      spec.OnLeadership,
		UnsafeUnsyncedLog: n.cfg.UnsafeUnsyncedLog,
		LogStore:          n.cfg.LogStore,
	})
}

// Group returns the group named name, or nil.
func (n *Node) Group(name string) *raftgroup.Group {
	for _, g := range n.groups() {
		if g.Name() == name {
			return g
		}
	}
	return nil
}

// groups returns the meta group and the queue groups, in that order.
func (n *Node) groups() []*raftgroup.Group {
	out := make([]*raftgroup.Group, 0, 1+len(n.queues))
	if n.meta != nil {
		out = append(out, n.meta)
	}
	return append(out, n.queues...)
}

// WaitReady blocks until every group (meta and queue) has a known leader
// and this node's state is current, or ctx ends. A group this node leads
// is ready once its leader work has started (GroupSpec.LeaderReady, else
// a Barrier); on a follower, once this node has applied the commit index
// it learned when a leader was first known. A node that waits to
// bootstrap or to be added to a cluster is not ready until that has
// happened.
func (n *Node) WaitReady(ctx context.Context) error {
	for i, g := range n.groups() {
		if err := n.waitGroupReady(ctx, g, n.specs[i].LeaderReady); err != nil {
			return fmt.Errorf("group %s: %w", g.Name(), err)
		}
	}
	return nil
}

// RaftAddr is the address the Raft port listens on.
func (n *Node) RaftAddr() string { return n.mux.Addr().String() }

// GossipKeys returns gossip's keyring: its operations on this node and on
// every running member.
func (n *Node) GossipKeys() *GossipKeyring { return n.keys }

// NodeID returns this node's id (Config.NodeID).
func (n *Node) NodeID() string { return n.cfg.NodeID }

// Close leaves gossip (peers see the node as left) and stops every group
// and the Raft port. The node stays a voter of every group: a rolling
// restart never shrinks the cluster.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		n.cancel()
		if m := n.gossip(); m != nil {
			errs = append(errs, m.leave())
		}
		for i := len(n.queues) - 1; i >= 0; i-- {
			errs = append(errs, n.queues[i].Shutdown())
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
