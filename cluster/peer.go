package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/internal/certs"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// How a node reaches its peers: over the cluster port (the Raft port), on
// the mux channel nodeAPIChannel, one gRPC connection per peer. The client
// port never serves node-to-node calls: a client cannot reach an RPC that
// appends raw bytes to a log. The owner serves NodeService (and the
// BrokerService that followers proxy client calls to) on PeerListener.
// This file holds the connections and this package's calls over them;
// package broker makes its own calls over the same connections
// (LeaderConn, PeerConn).

// nodeAPIChannel is the mux header id of node-to-node gRPC on the cluster
// port; it is not a Raft group (those are "meta", "q0", …).
const nodeAPIChannel = "node-api"

// peerKeepalive is the ping interval and timeout of node-to-node
// connections; the servers permit pings every 2 s.
const peerKeepalive = 5 * time.Second

// Bounds of this package's calls to peers.
const (
	// statusCallTimeout bounds asking one peer for its indexes.
	statusCallTimeout = time.Second
	// leaderIndexTimeout bounds asking a group's leader for its commit
	// index.
	leaderIndexTimeout = 2 * time.Second
	// leaderCommitAskEvery paces asking a new leader again until its
	// commit index is complete (it commits a no-op of its term at once).
	leaderCommitAskEvery = 10 * time.Millisecond
)

// peerConns keeps one gRPC connection per peer cluster-port address.
// Connections are made lazily, through the mux channel (dial), and closed
// with the node.
type peerConns struct {
	dial   func(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error)
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newPeerConns(channel raft.StreamLayer) *peerConns {
	return &peerConns{dial: channel.Dial, conns: map[string]*grpc.ClientConn{}}
}

// conn returns the connection to the node whose cluster port is addr,
// dialling it on first use.
func (p *peerConns) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrShuttingDown
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	dialer := func(ctx context.Context, target string) (net.Conn, error) {
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		return p.dial(raft.ServerAddress(target), timeout)
	}
	c, err := grpc.NewClient("passthrough:///"+addr, grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
		// A proxied consume stream to a leader that vanished must end within
		// seconds, so its client moves on.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: peerKeepalive, Timeout: peerKeepalive, PermitWithoutStream: true}))
	if err != nil {
		return nil, fmt.Errorf("dial peer %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peerConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// memberProbeTimeout bounds verifyMember's dial and handshake.
const memberProbeTimeout = 3 * time.Second

// verifyMember checks, when the cluster port runs mutual TLS, that m's
// cluster port answers with a node certificate of the cluster's CA that
// names m.ID. Gossip alone — a node that has the gossip key but no
// certificate, or another node's — never makes a member of a group, so it
// can neither take a voter's seat nor, by dying, cost a group its quorum.
// Without TLS there is nothing to check.
func (n *Node) verifyMember(m Member) error {
	if n.cfg.TLS == nil {
		return nil
	}
	cfg := n.cfg.TLS.Clone()
	if host, _, err := net.SplitHostPort(m.RaftAddr); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: memberProbeTimeout}, "tcp", m.RaftAddr, cfg)
	if err != nil {
		return fmt.Errorf("cluster port %s: %w", m.RaftAddr, err)
	}
	defer conn.Close()
	peer := conn.ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return fmt.Errorf("cluster port %s presented no certificate", m.RaftAddr)
	}
	if id, ok := certs.NodeID(peer[0]); !ok || id != m.ID {
		return fmt.Errorf("cluster port %s presents the certificate of node %q, not of %q", m.RaftAddr, id, m.ID)
	}
	return nil
}

// PeerListener is where peers' node-to-node gRPC arrives: the cluster
// port's nodeAPIChannel. The owner serves NodeService, and the
// BrokerService that followers proxy client calls to, on it; it closes
// with the node.
func (n *Node) PeerListener() net.Listener { return n.nodeAPI }

// LeaderConn returns a gRPC connection to the cluster port of the node
// that leads g, for calls that must run there. It fails with g's
// *raftgroup.NotLeaderError when no leader is known or this node is the
// leader.
func (n *Node) LeaderConn(g *raftgroup.Group) (*grpc.ClientConn, error) {
	addr, id := g.LiveLeader()
	if id == "" || addr == "" || string(id) == n.cfg.NodeID {
		return nil, g.NotLeader()
	}
	return n.peers.conn(string(addr))
}

// LeaderConnMoved is LeaderConn, with a channel that is closed once this
// node knows of another leader of g than the one connected to (another
// node, or this one), or ctx ends first. A consume stream proxied to a
// leader ends on it: a leader that went silent (paused, cut off) would
// otherwise hold the stream until the client's own silence limit, though
// the group already serves again elsewhere. A moment with no leader known
// does not close it: the client would only find no leader to go to.
func (n *Node) LeaderConnMoved(ctx context.Context, g *raftgroup.Group) (*grpc.ClientConn, <-chan struct{}, error) {
	changed := g.LeaderChanged() // before reading the leader, so no change is missed
	addr, id := g.LiveLeader()
	if id == "" || addr == "" || string(id) == n.cfg.NodeID {
		return nil, nil, g.NotLeader()
	}
	conn, err := n.peers.conn(string(addr))
	if err != nil {
		return nil, nil, err
	}
	moved := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			changed = g.LeaderChanged()
			if _, now := g.Leader(); now != "" && now != id {
				close(moved)
				return
			}
		}
	}()
	return conn, moved, nil
}

// PeerConn returns a gRPC connection to the cluster port of member m.
func (n *Node) PeerConn(m Member) (*grpc.ClientConn, error) {
	if m.RaftAddr == "" {
		return nil, fmt.Errorf("node %s gossips no cluster address", m.ID)
	}
	return n.peers.conn(m.RaftAddr)
}

// RunningPeers returns the other members whose process is up.
func (n *Node) RunningPeers() []Member {
	var out []Member
	for _, m := range n.Members() {
		if m.ID != n.cfg.NodeID && m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// LeaderCommitIndex returns the commit index of g's leader: this node's
// own when it leads g (once it has committed an entry of its term, which
// a new leader does within a round trip), else the one the leader
// reports.
func (n *Node) LeaderCommitIndex(ctx context.Context, g *raftgroup.Group) (uint64, error) {
	if g.IsLeader() {
		if index, ok := waitLeaderCommit(ctx, g); ok {
			return index, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// Lost the leadership meanwhile: ask the new leader.
	}
	// Ask the leader until it reports a complete commit index: a node
	// that has just become leader (or that lost the leadership since this
	// node learned of it) may hold a commit index short of what an earlier
	// leader confirmed.
	cctx, cancel := context.WithTimeout(ctx, leaderIndexTimeout)
	defer cancel()
	t := time.NewTicker(leaderCommitAskEvery)
	defer t.Stop()
	for {
		index, complete, err := n.askLeaderCommit(cctx, g)
		if complete {
			return index, nil
		}
		if err == nil {
			err = fmt.Errorf("the leader of %s has not yet committed an entry of its term", g.Name())
		}
		select {
		case <-cctx.Done():
			return 0, err
		case <-t.C:
		}
	}
}

// askLeaderCommit asks the node this one believes leads g for its commit
// index, and whether that node reports it complete.
func (n *Node) askLeaderCommit(ctx context.Context, g *raftgroup.Group) (uint64, bool, error) {
	if g.IsLeader() {
		index, ok := g.LeaderCommitIndex()
		return index, ok, nil
	}
	conn, err := n.LeaderConn(g)
	if err != nil {
		return 0, false, err
	}
	r, err := pb.NewNodeServiceClient(conn).LocalStatus(ctx, &pb.LocalStatusRequest{})
	if err != nil {
		return 0, false, FromStatus(err)
	}
	for _, s := range r.GetGroups() {
		if s.GetGroup() == g.Name() {
			return s.GetCommitIndex(), s.GetLeaderCommitComplete(), nil
		}
	}
	return 0, false, fmt.Errorf("the leader of %s reported no index for it", g.Name())
}

// leaderCommitPoll paces waitLeaderCommit.
const leaderCommitPoll = 2 * time.Millisecond

// waitLeaderCommit waits, while this node leads g, until its commit index
// is known to be complete (raftgroup.Group.LeaderCommitIndex); false when
// it stopped leading or ctx ended first.
func waitLeaderCommit(ctx context.Context, g *raftgroup.Group) (uint64, bool) {
	if index, ok := g.LeaderCommitIndex(); ok {
		return index, true
	}
	t := time.NewTicker(leaderCommitPoll)
	defer t.Stop()
	for g.IsLeader() {
		select {
		case <-ctx.Done():
			return 0, false
		case <-t.C:
		}
		if index, ok := g.LeaderCommitIndex(); ok {
			return index, true
		}
	}
	return 0, false
}

// peerIndexes asks member m for its indexes of every group.
func (n *Node) peerIndexes(ctx context.Context, m Member) (map[string]GroupIndex, error) {
	conn, err := n.PeerConn(m)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, statusCallTimeout)
	defer cancel()
	r, err := pb.NewNodeServiceClient(conn).LocalStatus(cctx, &pb.LocalStatusRequest{})
	if err != nil {
		return nil, err
	}
	if r.GetNodeId() != m.ID {
		return nil, fmt.Errorf("%s answered as %s", m.ID, r.GetNodeId())
	}
	idx := map[string]GroupIndex{}
	for _, g := range r.GetGroups() {
		idx[g.GetGroup()] = GroupIndex{LastIndex: g.GetLastIndex(), AppliedIndex: g.GetAppliedIndex(), CommitIndex: g.GetCommitIndex(),
			LeaderID: g.GetLeaderId(), LeaderSilent: time.Duration(g.GetLeaderSilentMs()) * time.Millisecond}
	}
	return idx, nil
}

// removeAtLeader asks the leader of g to remove node id from g.
func (n *Node) removeAtLeader(ctx context.Context, g *raftgroup.Group, id string) (bool, error) {
	conn, err := n.LeaderConn(g)
	if err != nil {
		return false, err
	}
	r, err := pb.NewNodeServiceClient(conn).RemoveMember(ctx, &pb.RemoveMemberRequest{Group: g.Name(), NodeId: id})
	if err != nil {
		return false, FromStatus(err)
	}
	return r.GetRemoved(), nil
}
