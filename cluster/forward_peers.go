package cluster

import (
	"fmt"
	"sync"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// peerKeepalive is the ping interval and timeout of node-to-node
// connections; the servers permit pings every 2 s.
const peerKeepalive = 5 * time.Second

// peerConns keeps one gRPC connection per peer address for node-to-node
// calls (forwarding to group leaders). Connections are made lazily and
// closed with the node.
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

// leaderClient returns a NodeService client for the leader of g, or the
// NotLeaderError when no leader is known or it cannot be reached.
func (n *Node) leaderClient(g *Group) (pb.NodeServiceClient, error) {
	conn, err := n.leaderConn(g)
	if err != nil {
		return nil, err
	}
	return pb.NewNodeServiceClient(conn), nil
}

// LeaderConn returns a gRPC connection to the node that leads the group
// named group ("meta", "q0", …), for proxying client calls that must run
// there (consume, get, settle). It fails with a *NotLeaderError when no
// leader is known, or its address is not (yet) known to membership.
func (n *Node) LeaderConn(group string) (*grpc.ClientConn, error) {
	g := n.groupByName(group)
	if g == nil {
		return nil, fmt.Errorf("no group %q on this node", group)
	}
	return n.leaderConn(g)
}

func (n *Node) leaderConn(g *Group) (*grpc.ClientConn, error) {
	addr, id := g.Leader()
	nle := &NotLeaderError{Group: g.Name(), LeaderID: string(id), LeaderAddr: string(addr)}
	if id == "" || string(id) == n.cfg.NodeID {
		return nil, nle
	}
	grpcAddr, ok := n.peerGRPCAddr(string(id))
	if !ok {
		return nil, nle
	}
	return n.peers.conn(grpcAddr)
}

// Redirect returns nle with the leader's gRPC address (when membership
// knows it) and this node's applied meta index filled in, so a client can
// go to the leader itself and ask it to know what this node knew; nil when
// no leader is known or its gRPC address is not.
func (n *Node) Redirect(nle *NotLeaderError) *NotLeaderError {
	if nle.LeaderID == "" {
		return nil
	}
	addr, ok := n.peerGRPCAddr(nle.LeaderID)
	if !ok || addr == "" {
		return nil
	}
	to := *nle
	to.LeaderGRPCAddr, to.MetaIndex = addr, n.MetaIndex()
	return &to
}
