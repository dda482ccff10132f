package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/warrenmq/warren/cluster/raftgroup"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// How a node reaches its peers: one gRPC connection per peer address,
// found through membership (a node id resolves to the gRPC address it
// gossips), and this package's calls over them. Package broker forwards
// its own calls over the same connections (LeaderConn, PeerConn).

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
)

// peerConns keeps one gRPC connection per peer address. Connections are
// made lazily and closed with the node.
type peerConns struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newPeerConns() *peerConns { return &peerConns{conns: map[string]*grpc.ClientConn{}} }

// conn returns the connection to addr, dialling it on first use.
func (p *peerConns) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrShuttingDown
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
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

// LeaderConn returns a gRPC connection to the node that leads g, for calls
// that must run there. It fails with g's *raftgroup.NotLeaderError when no
// leader is known, this node is the leader, or the leader's gRPC address
// is not (yet) known to membership.
func (n *Node) LeaderConn(g *raftgroup.Group) (*grpc.ClientConn, error) {
	_, id := g.Leader()
	if id == "" || string(id) == n.cfg.NodeID {
		return nil, g.NotLeader()
	}
	addr, ok := n.MemberGRPCAddr(string(id))
	if !ok {
		return nil, g.NotLeader()
	}
	return n.peers.conn(addr)
}

// PeerConn returns a gRPC connection to member m.
func (n *Node) PeerConn(m Member) (*grpc.ClientConn, error) {
	if m.GRPCAddr == "" {
		return nil, fmt.Errorf("node %s gossips no gRPC address", m.ID)
	}
	return n.peers.conn(m.GRPCAddr)
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
// own when it leads g, else the one the leader reports.
func (n *Node) LeaderCommitIndex(ctx context.Context, g *raftgroup.Group) (uint64, error) {
	if g.IsLeader() {
		return g.CommitIndex(), nil
	}
	conn, err := n.LeaderConn(g)
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, leaderIndexTimeout)
	defer cancel()
	r, err := pb.NewNodeServiceClient(conn).LocalStatus(cctx, &pb.LocalStatusRequest{})
	if err != nil {
		return 0, FromStatus(err)
	}
	for _, s := range r.GetGroups() {
		if s.GetGroup() == g.Name() {
			return s.GetCommitIndex(), nil
		}
	}
	return 0, fmt.Errorf("the leader of %s reported no index for it", g.Name())
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
		idx[g.GetGroup()] = GroupIndex{LastIndex: g.GetLastIndex(), AppliedIndex: g.GetAppliedIndex(), CommitIndex: g.GetCommitIndex()}
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
