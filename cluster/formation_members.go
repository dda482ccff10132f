package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// configChangeTimeout bounds one AddVoter or AddNonvoter.
const configChangeTimeout = 10 * time.Second

// reconciler is the work every node does for the groups it leads, every
// ReconcileInterval and after every membership change: it adds alive
// members to the groups, removes long-dead ones when configured, and
// spreads the queue groups' leaders.
type reconciler struct {
	n *Node
	// transferFailed is when a leadership-spread transfer to a node last
	// failed (node id → time).
	transferFailed map[string]time.Time
	// refusedLogged is when the refusal of a member was last logged.
	refusedLogged map[string]time.Time
}

// refusedLogEvery bounds how often one refused member is logged.
const refusedLogEvery = time.Minute

// logRefused logs, at most every refusedLogEvery per member, that m was
// not added to g because its cluster port did not prove it is m.
func (r *reconciler) logRefused(g *raftgroup.Group, m Member, err error) {
	if time.Since(r.refusedLogged[m.ID]) < refusedLogEvery {
		return
	}
	if r.refusedLogged == nil {
		r.refusedLogged = map[string]time.Time{}
	}
	r.refusedLogged[m.ID] = time.Now()
	g.Logger().Warn("not adding a member whose cluster port does not prove it is that node", "member", m.ID, "raft_addr", m.RaftAddr, "error", err)
}

// reconcileLoop runs reconcileMembers and rebalanceLeaders every
// ReconcileInterval and after every membership change.
func (r *reconciler) reconcileLoop() {
	n := r.n
	kick := n.gossip().subscribe()
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		r.reconcileMembers()
		r.removeDeadMembers()
		r.rebalanceLeaders()
	}
}

// reconcileMembers adds, in every group this node leads, each alive member
// that the group's configuration lacks: as a voter while the group has
// fewer than MaxVoters, else as a non-voter. It also promotes non-voters
// while there is room, and updates the address of a server whose Raft
// address changed. Members are never removed: a stopped or crashed node
// stays in every group.
//
// Each group's leader does this for its own group, so no node needs to
// reach another group's leader. (ARCHITECTURE §6 gives the job to the meta
// leader; with queue-group leaders spread over the nodes that would need
// a forwarding call per change.)
func (r *reconciler) reconcileMembers() {
	n := r.n
	var alive []Member
	for _, m := range n.Members() {
		if m.State == MemberAlive && m.RaftAddr != "" {
			alive = append(alive, m)
		}
	}
	if len(alive) == 0 {
		return
	}
	for _, g := range n.groups() {
		if n.ctx.Err() != nil {
			return
		}
		if g.IsLeader() {
			r.reconcileGroup(g, alive)
		}
	}
}

func (r *reconciler) reconcileGroup(g *raftgroup.Group, alive []Member) {
	servers, err := g.Configuration()
	if err != nil {
		return
	}
	byID := make(map[raft.ServerID]raft.Server, len(servers))
	for _, s := range servers {
		byID[s.ID] = s
	}
	voters, zoneVoters := 0, map[string]int{}
	for _, m := range alive {
		if s, ok := byID[raft.ServerID(m.ID)]; ok && s.Suffrage == raft.Voter {
			zoneVoters[m.Zone]++
		}
	}
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	for _, m := range voterCandidates(alive, byID, zoneVoters) {
		id, addr := raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr)
		s, ok := byID[id]
		isVoter := ok && s.Suffrage == raft.Voter
		if isVoter && s.Address == addr {
			continue
		}
		if err := r.n.verifyMember(m); err != nil {
			r.logRefused(g, m, err)
			continue
		}
		switch {
		case isVoter || voters < MaxVoters:
			if err := r.changeConfig(g, m, true); err != nil {
				return
			}
			if !isVoter {
				voters++
				zoneVoters[m.Zone]++
			}
		case !ok || s.Address != addr:
			if err := r.changeConfig(g, m, false); err != nil {
				return
			}
		}
	}
}

// voterCandidates orders the alive members for reconcileGroup: current
// voters first, then the others by how many voters their zone already has
// (fewest first), then by id. So when there are more nodes than voter
// seats, the seats go to as many zones as possible and the loss of one
// zone costs the fewest voters.
func voterCandidates(alive []Member, byID map[raft.ServerID]raft.Server, zoneVoters map[string]int) []Member {
	out := slices.Clone(alive)
	isVoter := func(m Member) bool {
		s, ok := byID[raft.ServerID(m.ID)]
		return ok && s.Suffrage == raft.Voter
	}
	slices.SortStableFunc(out, func(a, b Member) int {
		av, bv := isVoter(a), isVoter(b)
		switch {
		case av != bv:
			if av {
				return -1
			}
			return 1
		case av:
			return strings.Compare(a.ID, b.ID)
		}
		if c := zoneVoters[a.Zone] - zoneVoters[b.Zone]; c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// changeConfig adds (or updates) member m as a voter or non-voter of g.
func (r *reconciler) changeConfig(g *raftgroup.Group, m Member, voter bool) error {
	n := r.n
	ctx, cancel := context.WithTimeout(n.ctx, configChangeTimeout)
	defer cancel()
	id, addr := raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr)
	var err error
	if voter {
		err = g.AddVoter(ctx, id, addr)
	} else {
		err = g.AddNonvoter(ctx, id, addr)
	}
	if err != nil {
		var nle *raftgroup.NotLeaderError
		if !errors.As(err, &nle) && !errors.Is(err, context.Canceled) {
			g.Logger().Warn("adding member failed", "member", m.ID, "voter", voter, "error", err)
		}
		return err
	}
	if voter {
		g.Logger().Info("member is a voter", "member", m.ID, "zone", m.Zone, "raft_addr", m.RaftAddr)
	} else {
		g.Logger().Info("member joined as non-voter: the group has enough voters", "member", m.ID, "zone", m.Zone, "voters", MaxVoters)
	}
	return nil
}
