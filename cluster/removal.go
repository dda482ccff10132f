package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
)

// removeRetryFor bounds how long a removal keeps retrying a group whose
// leader is moving (an election, or this node's own hand-off).
const removeRetryFor = 15 * time.Second

// checkRemoval returns an fsm.ErrPrecondition error when removing server id
// from a group whose configuration is servers would leave fewer alive
// voters than a majority of the voters that remain: the group could then
// not commit (not even the removal itself, if more are lost). A server not
// in the configuration needs no removal and passes.
func checkRemoval(group string, servers []raft.Server, id string, alive func(string) bool) error {
	remaining, aliveLeft := 0, 0
	for _, s := range servers {
		if s.Suffrage != raft.Voter || string(s.ID) == id {
			continue
		}
		remaining++
		if alive(string(s.ID)) {
			aliveLeft++
		}
	}
	if remaining == 0 {
		return fmt.Errorf("%w: group %s: %s is its only voter", fsm.ErrPrecondition, group, id)
	}
	if need := remaining/2 + 1; aliveLeft < need {
		return fmt.Errorf("%w: group %s: without %s it would have %d voters of which only %d are alive (a majority needs %d); bring a node back first",
			fsm.ErrPrecondition, group, id, remaining, aliveLeft, need)
	}
	return nil
}

// aliveForQuorum reports whether gossip shows node id alive (leaving
// nodes still vote until they are removed).
func (n *Node) aliveForQuorum() func(string) bool {
	running := map[string]bool{n.cfg.NodeID: true}
	for _, m := range n.RunningPeers() {
		running[m.ID] = true
	}
	return func(id string) bool { return running[id] }
}

// RemoveFromGroup removes node id from the named group, which this node
// must lead, after checkRemoval. It reports false when id was not a
// server of the group.
func (n *Node) RemoveFromGroup(ctx context.Context, group, id string) (bool, error) {
	g := n.Group(group)
	if g == nil {
		return false, fmt.Errorf("%w: no group %q on this node", fsm.ErrNotFound, group)
	}
	if !g.IsLeader() {
		return false, g.NotLeader()
	}
	servers, err := g.Configuration()
	if err != nil {
		return false, err
	}
	found := false
	for _, s := range servers {
		found = found || string(s.ID) == id
	}
	if !found {
		return false, nil
	}
	if err := checkRemoval(group, servers, id, n.aliveForQuorum()); err != nil {
		return false, err
	}
	// This leader adds every member its gossip shows alive to the group
	// (reconcileMembers): removing one it still sees alive would be
	// undone. Gossip converges within seconds; the caller retries.
	if m, ok := n.gossip().get(id); ok && m.State == MemberAlive && id != n.cfg.NodeID {
		return false, fmt.Errorf("%w: the leader of group %s still sees %s alive", ErrMemberAlive, group, id)
	}
	if err := g.RemoveServer(ctx, raft.ServerID(id)); err != nil {
		return false, err
	}
	g.Logger().Info("removed member from group", "member", id)
	return true, nil
}

// removeEverywhere removes node id from every group (queue groups first,
// the meta group last) through each group's leader, retrying while a
// leader is being elected. It returns the groups id was removed from.
func (n *Node) removeEverywhere(ctx context.Context, id string) ([]string, error) {
	var removed []string
	for _, g := range n.groupsMetaLast() {
		ok, err := n.removeFromGroupVia(ctx, g, id)
		if err != nil {
			return removed, fmt.Errorf("remove %s from group %s: %w", id, g.Name(), err)
		}
		if ok {
			removed = append(removed, g.Name())
		}
	}
	return removed, nil
}

func (n *Node) removeFromGroupVia(ctx context.Context, g *raftgroup.Group, id string) (bool, error) {
	deadline := time.Now().Add(removeRetryFor)
	for {
		ok, err := n.removeFromGroupOnce(ctx, g, id)
		if err == nil || !retryRemoval(err) || time.Now().After(deadline) {
			return ok, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Node) removeFromGroupOnce(ctx context.Context, g *raftgroup.Group, id string) (bool, error) {
	if g.IsLeader() {
		return n.RemoveFromGroup(ctx, g.Name(), id)
	}
	return n.removeAtLeader(ctx, g, id)
}

// retryRemoval reports whether a removal that failed with err is worth
// another try: the leader is moving or not reachable, or its gossip has
// not yet seen the node go.
func retryRemoval(err error) bool {
	var nle *raftgroup.NotLeaderError
	return errors.As(err, &nle) || errors.Is(err, ErrMemberAlive) || errors.Is(err, ErrShuttingDown) ||
		errors.Is(err, raftgroup.ErrGroupClosed) || status.Code(err) == codes.Unavailable
}

// groupsMetaLast returns every group with the meta group last: a removal
// changes the queue groups first, so the meta group keeps the node (and
// its gossip view keeps mattering) until the node is out of all of them.
func (n *Node) groupsMetaLast() []*raftgroup.Group {
	gs := n.groups() // meta first
	return append(gs[1:], gs[0])
}

// RemoveNode removes node id, which must not be alive, from every group.
// Each group's leader refuses when the removal would cost the group its
// quorum of alive voters.
func (n *Node) RemoveNode(ctx context.Context, id string) ([]string, error) {
	if id == n.cfg.NodeID {
		return nil, fmt.Errorf("%w: %s is the node answering; to remove it, use leave", fsm.ErrPrecondition, id)
	}
	if m, ok := n.gossip().get(id); ok && m.Running() {
		return nil, fmt.Errorf("%w: node %s is %s; stop it first, or make it leave (warren --server %s cluster leave)",
			fsm.ErrPrecondition, id, m.State, m.GRPCAddr)
	}
	if err := n.precheckRemoval(id); err != nil {
		return nil, err
	}
	return n.removeEverywhere(ctx, id)
}

// precheckRemoval runs checkRemoval on this node's view of every group,
// so that an operation that would fail in one group changes none.
func (n *Node) precheckRemoval(id string) error {
	alive := n.aliveForQuorum()
	for _, g := range n.groupsMetaLast() {
		servers, err := g.Configuration()
		if err != nil {
			return err
		}
		if err := checkRemoval(g.Name(), servers, id, alive); err != nil {
			return err
		}
	}
	return nil
}

// Leave removes this node from the cluster for good: it announces that it
// is leaving, hands its leaderships to other nodes, and has every group's
// leader remove it. The node's owner must then stop it (Left closes).
func (n *Node) Leave(ctx context.Context) ([]string, error) {
	if err := n.precheckRemoval(n.cfg.NodeID); err != nil {
		return nil, err
	}
	n.HandOff(ctx)
	removed, err := n.removeEverywhere(ctx, n.cfg.NodeID)
	if err != nil {
		return removed, err
	}
	n.leftOnce.Do(func() { close(n.left) })
	return removed, nil
}

// Left closes once Leave has removed this node from every group.
func (n *Node) Left() <-chan struct{} { return n.left }

// removeDeadMembers removes, from every group this node leads, the servers
// that gossip has shown dead (not left: a stopped node comes back) for
// longer than Config.DeadNodeRemoval, unless that would cost the group its
// quorum of alive voters. Off when DeadNodeRemoval is 0.
func (r *reconciler) removeDeadMembers() {
	n := r.n
	after := n.cfg.DeadNodeRemoval
	if after <= 0 {
		return
	}
	now := time.Now()
	dead := map[string]bool{}
	for _, m := range n.Members() {
		if m.State == MemberDead && !m.Since.IsZero() && now.Sub(m.Since) >= after {
			dead[m.ID] = true
		}
	}
	if len(dead) == 0 {
		return
	}
	for _, g := range n.groups() {
		if n.ctx.Err() != nil || !g.IsLeader() {
			continue
		}
		servers, err := g.Configuration()
		if err != nil {
			continue
		}
		for _, s := range servers {
			if !dead[string(s.ID)] {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, configChangeTimeout)
			_, err := n.RemoveFromGroup(ctx, g.Name(), string(s.ID))
			cancel()
			if err != nil {
				g.Logger().Warn("not removing dead member", "member", s.ID, "dead_for", after, "error", err)
				continue
			}
			g.Logger().Info("removed member dead for longer than the configured time", "member", s.ID, "dead_for", after)
		}
	}
}
