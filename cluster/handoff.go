package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
)

// HandOff prepares this node to stop: it tells peers it is leaving (so no
// leadership is moved back to it and it is not re-added to a group it is
// removed from) and hands each group it leads to another alive voter,
// spreading them over the nodes that lead the fewest groups. Clients then
// find the leaders elsewhere while this node still answers, instead of
// waiting out an election after it stops. Transfers run in parallel and
// Raft bounds each by its election timeout; a group with no other alive
// voter stays here. The node stays a voter of every group.
func (n *Node) HandOff(ctx context.Context) {
	if m := n.gossip(); m != nil {
		m.announceLeaving()
	}
	if len(n.Members()) <= 1 {
		return // a single node: nobody to hand off to
	}
	alive := map[string]bool{}
	for _, m := range n.Members() {
		if m.State == MemberAlive && m.ID != n.cfg.NodeID {
			alive[m.ID] = true
		}
	}
	leads := map[string]int{}
	for _, g := range n.groups() {
		if _, id := g.Leader(); id != "" {
			leads[string(id)]++
		}
	}
	var wg sync.WaitGroup
	for _, g := range n.groups() {
		if ctx.Err() != nil {
			break
		}
		if !g.IsLeader() {
			continue
		}
		target, ok := handOffTarget(g, alive, leads)
		if !ok {
			g.Logger().Warn("no alive voter to hand leadership to; it stays here until the node stops")
			continue
		}
		leads[string(target.ID)]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.TransferLeadershipTo(target.ID, target.Address); err != nil {
				g.Logger().Warn("leadership hand-off failed", "to", target.ID, "error", err)
				return
			}
			g.Logger().Info("handed leadership off before stopping", "to", target.ID)
		}()
	}
	wg.Wait()
}

// handOffTarget picks the alive voter of g (other than this node) that
// leads the fewest groups; ties go to the lowest id.
func handOffTarget(g *raftgroup.Group, alive map[string]bool, leads map[string]int) (raft.Server, bool) {
	servers, err := g.Configuration()
	if err != nil {
		return raft.Server{}, false
	}
	var best raft.Server
	found := false
	for _, s := range servers {
		if s.Suffrage != raft.Voter || !alive[string(s.ID)] {
			continue
		}
		c := leads[string(s.ID)]
		if !found || c < leads[string(best.ID)] || c == leads[string(best.ID)] && s.ID < best.ID {
			best, found = s, true
		}
	}
	return best, found
}

// TransferLeadership hands the leadership of the named group, which this
// node must lead, to the server with id target.
func (n *Node) TransferLeadership(group, target string) error {
	g := n.Group(group)
	if g == nil {
		return fmt.Errorf("%w: no group %q on this node", fsm.ErrNotFound, group)
	}
	servers, err := g.Configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if string(s.ID) == target {
			return g.TransferLeadershipTo(s.ID, s.Address)
		}
	}
	return fmt.Errorf("%w: %q is not a server of group %s", fsm.ErrNotFound, target, group)
}
