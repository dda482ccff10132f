package cluster

import (
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Cluster formation (ARCHITECTURE §6), the Consul way:
//
//   - BootstrapExpect 1 and no Join: raftgroup.Open bootstraps every group with
//     this node as the single voter (a node with Raft state never
//     bootstraps again).
//   - BootstrapExpect N > 1: the groups open without a configuration and
//     wait. Once gossip shows exactly N alive nodes, every one of the N that
//     has no Raft state bootstraps every group with the same configuration:
//     the N nodes sorted by id, ServerID = node id, ServerAddress = Raft
//     address. hashicorp/raft documents that bootstrapping all servers with
//     an identical configuration is safe. Before it does, a node exchanges
//     push/pull state with every peer (membership_state.go): if a peer
//     already has Raft state bootstrapped with other voters, a cluster is
//     running that this node is not a founder of, and it waits to be added
//     instead.
//   - Join with BootstrapExpect 1, or a node that finds a running cluster
//     without it: it never bootstraps; the group leaders add it
//     (reconcileMembers).
//
// A founder that is slow is no problem either way: the others' groups
// already list it, so it is replicated to (a node without configuration
// accepts the log, and grants votes, from any leader).

// Polling intervals of the formation loops.
const (
	// formationPoll is how often a node waiting to bootstrap looks again
	// (membership changes wake it sooner).
	formationPoll = 250 * time.Millisecond
	// joinRetryMin and joinRetryMax bound the backoff between attempts
	// to reach the Join addresses.
	joinRetryMin = 250 * time.Millisecond
	joinRetryMax = 5 * time.Second
)

// bootstrapsAlone reports whether a node bootstraps each group with
// itself as the single voter (when the group has no state).
func (c Config) bootstrapsAlone() bool {
	return c.BootstrapExpect <= 1 && len(c.Join) == 0
}

// formation is a node's way into a cluster: joining gossip, and
// bootstrapping a new cluster with its founders.
type formation struct{ n *Node }

// formed reports whether every group of this node has Raft state.
func (n *Node) formed() bool {
	for _, g := range n.groups() {
		if !g.HasState() {
			return false
		}
	}
	return true
}

// startMembershipLoops starts gossip's background work: joining, forming
// a new cluster, adding members to groups and spreading leaders.
func (n *Node) startMembershipLoops() {
	f := &formation{n: n}
	loops := []func(){(&reconciler{n: n}).reconcileLoop, n.reconnectLoop, n.silenceLoop}
	if len(n.cfg.Join) > 0 {
		loops = append(loops, f.joinLoop)
	}
	if !n.cfg.bootstrapsAlone() {
		loops = append(loops, f.formationLoop)
	}
	for _, loop := range loops {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			loop()
		}()
	}
}

// joinLoop contacts the Join addresses until gossip knows another node,
// backing off between attempts.
func (f *formation) joinLoop() {
	n := f.n
	addrs := f.joinAddrs()
	if len(addrs) == 0 {
		return
	}
	wait := joinRetryMin
	for attempt := 1; ; attempt++ {
		// One address at a time, so that Close waits for at most one
		// TCP timeout of memberlist's (Join takes no context).
		k := 0
		var errs []error
		for _, a := range addrs {
			if n.ctx.Err() != nil {
				return
			}
			c, err := n.gossip().ml.Join([]string{a})
			k += c
			errs = append(errs, err)
		}
		err := errors.Join(errs...)
		if k > 0 && n.gossip().ml.NumMembers() > 1 {
			n.gossip().logger.Info("joined gossip", "contacted", k, "members", n.gossip().ml.NumMembers())
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			n.gossip().logger.Warn("no join address answered; retrying", "addrs", strings.Join(addrs, ","), "attempt", attempt, "error", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, joinRetryMax)
	}
}

// joinAddrs is Config.Join without this node's own gossip address (a
// shared join list names every node).
func (f *formation) joinAddrs() []string {
	n := f.n
	self := map[string]bool{n.gossip().localAddr(): true, n.cfg.GossipAddr: true}
	var out []string
	for _, a := range n.cfg.Join {
		if self[a] {
			continue
		}
		if tcp, err := net.ResolveTCPAddr("tcp", a); err == nil && self[tcp.String()] {
			continue
		}
		out = append(out, a)
	}
	return out
}

// formationLoop waits until this node belongs to a cluster: bootstrapped
// with BootstrapExpect peers, or added by a running cluster's leaders.
func (f *formation) formationLoop() {
	n := f.n
	m := n.gossip()
	kick := m.subscribe()
	t := time.NewTicker(formationPoll)
	defer t.Stop()
	expect := n.cfg.BootstrapExpect
	if expect <= 1 {
		m.logger.Info("no Raft state; waiting to be added by the cluster's leaders")
	}
	seen := -1
	for {
		if n.formed() {
			m.logger.Info("node belongs to a cluster")
			return
		}
		if expect > 1 {
			servers := f.aliveServers()
			if len(servers) != seen {
				seen = len(servers)
				m.logger.Info("waiting for servers to bootstrap", "alive", seen, "expect", expect)
			}
			if len(servers) == expect && f.tryBootstrap(servers) {
				return
			}
			if m.peerFormed.Load() && !m.inPeerCluster(n.cfg.NodeID) {
				m.logger.Info("a running cluster was founded without this node; waiting to be added by its leaders")
				return
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

// aliveServers returns the alive members as Raft voters sorted by id.
func (f *formation) aliveServers() []raft.Server {
	n := f.n
	var out []raft.Server
	for _, m := range n.Members() {
		if m.State == MemberAlive && m.RaftAddr != "" {
			out = append(out, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
		}
	}
	return out
}

// tryBootstrap bootstraps every group that has no state with servers,
// after a last push/pull with every peer, unless a peer reported Raft state
// bootstrapped with other voters. It reports whether it bootstrapped.
func (f *formation) tryBootstrap(servers []raft.Server) bool {
	n := f.n
	m := n.gossip()
	var peers []string
	for _, mem := range n.Members() {
		if mem.State == MemberAlive && mem.ID != n.cfg.NodeID {
			peers = append(peers, mem.GossipAddr)
		}
	}
	m.pushPull(peers)
	ids := make([]string, len(servers))
	for i, s := range servers {
		ids[i] = string(s.ID)
	}
	if !m.peersAgree(ids) {
		return false
	}
	if again := f.aliveServers(); !slices.Equal(again, servers) {
		return false
	}
	for _, g := range n.groups() {
		if g.HasState() {
			continue
		}
		err := g.Bootstrap(servers)
		switch {
		case err == nil:
			g.Logger().Info("bootstrapped raft group", "servers", strings.Join(ids, ","))
		case errors.Is(err, raft.ErrCantBootstrap):
			// Contacted by a founder meanwhile; it is in the cluster.
		default:
			m.logger.Error("bootstrap failed", "group", g.Name(), "error", err)
		}
	}
	return true
}
