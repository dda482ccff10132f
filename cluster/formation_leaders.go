package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// transferRetryAfter is how long a node that a leadership-spread transfer
// failed to reach is not chosen again. A node killed a moment ago still
// looks alive to gossip for seconds, and every transfer to it stalls the
// group's writes until the transfer times out (an election timeout), so
// one failure must not be repeated every reconcile round. Gossip declares
// a killed node dead within about that long.
const transferRetryAfter = 10 * time.Second

// rebalanceLeaders spreads the queue groups' leaders over the alive voters
// (ARCHITECTURE §2), so that dispatch and apply work spreads over the
// nodes. Every node runs it for the groups it leads: when it leads at
// least 2 more than another alive voter of one of those groups, it hands
// that group to the voter that leads the fewest (ties: lowest id). At rest
// no two nodes differ by more than one, so none leads more than
// ceil(K/N). One transfer per call, so every node sees the result before
// the next move; concurrent moves by several nodes converge because each
// only moves towards a node at least 2 below its own count.
func (r *reconciler) rebalanceLeaders() {
	n := r.n
	if len(n.queues) == 0 || n.ctx.Err() != nil {
		return
	}
	alive := map[string]bool{}
	for _, m := range n.Members() {
		if m.State == MemberAlive && time.Since(r.transferFailed[m.ID]) >= transferRetryAfter {
			alive[m.ID] = true
		}
	}
	counts := map[string]int{}
	voters := make([][]raft.Server, len(n.queues))
	for i, g := range n.queues {
		_, leader := g.Leader()
		if leader == "" {
			return // an election is under way; look again next round
		}
		counts[string(leader)]++
		servers, err := g.Configuration()
		if err != nil {
			return
		}
		for _, s := range servers {
			if s.Suffrage == raft.Voter && alive[string(s.ID)] {
				voters[i] = append(voters[i], s)
				if _, ok := counts[string(s.ID)]; !ok {
					counts[string(s.ID)] = 0
				}
			}
		}
	}
	self := n.cfg.NodeID
	mine := counts[self]
	if mine-minCount(counts) < 2 {
		// TODO(forwarding): as meta leader, ask the leader of a group on
		// an overloaded node to move it (NodeService.TransferLeadership)
		// when that node does not run this loop itself (an older build).
		return
	}
	for i, g := range n.queues {
		if !g.IsLeader() {
			continue
		}
		var target raft.Server
		best := -1
		for _, s := range voters[i] {
			c := counts[string(s.ID)]
			if string(s.ID) == self || c+1 >= mine {
				continue
			}
			if best < 0 || c < best || c == best && s.ID < target.ID {
				target, best = s, c
			}
		}
		if best < 0 {
			continue
		}
		if err := r.hearsUs(g, target.ID); err != nil {
			// A paused or cut-off node still looks alive to gossip for
			// seconds, and a transfer to it stalls the group's writes for
			// an election timeout (issue 14: a failover's new leader
			// handed its groups to the paused old one).
			g.Logger().Info("not moving leadership to a node that does not follow this leader now", "group", g.Name(),
				"to", target.ID, "retry_after", transferRetryAfter, "error", err)
			if r.transferFailed == nil {
				r.transferFailed = map[string]time.Time{}
			}
			r.transferFailed[string(target.ID)] = time.Now()
			return
		}
		g.Logger().Info("moving leadership to spread queue-group leaders", "group", g.Name(),
			"to", target.ID, "leads", mine, "target_leads", best)
		if err := g.TransferLeadershipTo(target.ID, target.Address); err != nil {
			g.Logger().Warn("leadership transfer failed; not moving leadership there for a while", "group", g.Name(),
				"to", target.ID, "retry_after", transferRetryAfter, "error", err)
			if r.transferFailed == nil {
				r.transferFailed = map[string]time.Time{}
			}
			r.transferFailed[string(target.ID)] = time.Now()
		}
		return
	}
}

// minCount returns the smallest value of counts (0 when empty).
func minCount(counts map[string]int) int {
	first, m := true, 0
	for _, c := range counts {
		if first || c < m {
			first, m = false, c
		}
	}
	return m
}

// hearsUs returns nil when node id answers at once and follows this node
// as g's leader, having heard from it within half a heartbeat timeout:
// a transfer to it can complete.
func (r *reconciler) hearsUs(g *raftgroup.Group, id raft.ServerID) error {
	n := r.n
	h := g.Timings().HeartbeatTimeout
	for _, m := range n.Members() {
		if m.ID != string(id) {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, h/4)
		defer cancel()
		idx, err := n.peerIndexes(ctx, m)
		if err != nil {
			return err
		}
		gi := idx[g.Name()]
		if gi.LeaderID == "" && gi.LeaderSilent == 0 {
			return nil // a node of an older version: it does not say
		}
		if gi.LeaderID != n.cfg.NodeID || gi.LeaderSilent >= h/2 {
			return fmt.Errorf("it follows %q, heard from %v ago", gi.LeaderID, gi.LeaderSilent)
		}
		return nil
	}
	return errors.New("not a member")
}
