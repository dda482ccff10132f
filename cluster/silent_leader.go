package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// A leader that goes silent (a paused process, a partition, a host gone)
// closes nothing, so raftgroup's leader watch cannot tell; Raft's own
// heartbeat timeout, randomised to [t, 2t), catches it, but with pre-vote
// and leader stickiness the first follower to time out is refused by the
// others until they time out as well, so a silent leader cost about 2.3
// heartbeat timeouts before a successor (issue 14). The silence watch asks
// instead: a voting follower that has not heard from its leader for
// silentAfter of the heartbeat timeout asks the other voters how long they
// have not heard from it, and when a majority of the voters (itself
// included) agree that it is silent (silentPeer or more, or no leader
// known), it stands for election as the leader watch does
// (Group.StandForElection), before any Raft timer has run out. A majority
// is what protects a healthy leader: a follower that was itself paused or
// cut off, and comes back with its leader silent for seconds to it, finds
// the others hearing from the leader and does nothing (and pre-vote keeps
// its own Raft timeouts from deposing anyone). The leader cannot commit
// without such a majority anyway.

const (
	// silentAfter is how much of the heartbeat timeout a follower waits
	// without contact before it asks: the leader heartbeats every tenth to
	// fifth of it, so several heartbeats are missed, and it comes before
	// Raft's own timeout (which would make this node a pre-vote candidate
	// that a TimeoutNow no longer moves).
	silentAfter = 0.75
	// silentPeer is how much of the heartbeat timeout a peer must not have
	// heard from the leader to agree.
	silentPeer = 0.5
	// silenceCheckEvery is how often the groups are looked at.
	silenceCheckEvery = 50 * time.Millisecond
)

// silenceLoop runs until Close, checking each group this node follows.
func (n *Node) silenceLoop() {
	t := time.NewTicker(silenceCheckEvery)
	defer t.Stop()
	var mu sync.Mutex
	checking := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for _, g := range n.groups() {
			leader, silent := g.LeaderSilence()
			h := g.Timings().HeartbeatTimeout
			if leader == "" || string(leader) == n.cfg.NodeID || silent < time.Duration(silentAfter*float64(h)) {
				continue
			}
			mu.Lock()
			busy := checking[g.Name()]
			checking[g.Name()] = true
			mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.checkSilentLeader(g, leader)
				mu.Lock()
				delete(checking, g.Name())
				mu.Unlock()
			}()
		}
	}
}

// checkSilentLeader asks the voters of g other than leader and this node
// whether leader is silent to them too, and stands for election when a
// majority of g's voters agree.
func (n *Node) checkSilentLeader(g *raftgroup.Group, leader raft.ServerID) {
	servers, err := g.Configuration()
	if err != nil {
		return
	}
	h := g.Timings().HeartbeatTimeout
	voters, agree := 0, 1 // this node
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(n.ctx, h/4)
	defer cancel()
	members := n.Members()
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == leader || string(s.ID) == n.cfg.NodeID {
			continue
		}
		for _, m := range members {
			if m.ID != string(s.ID) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				idx, err := n.peerIndexes(ctx, m)
				if err != nil {
					return
				}
				gi, ok := idx[g.Name()]
				if ok && (gi.LeaderID == "" || (gi.LeaderID == string(leader) && gi.LeaderSilent >= time.Duration(silentPeer*float64(h)))) {
					mu.Lock()
					agree++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if 2*agree <= voters {
		g.Logger().Info("the leader is silent to this node but not to a majority of the voters: not standing",
			"leader", string(leader), "agree", agree, "voters", voters)
		return
	}
	g.StandForElection(leader, "the leader is silent to a majority of the voters", func() bool {
		id, silent := g.LeaderSilence()
		return (id == "" || id == leader) && silent >= time.Duration(silentAfter*float64(h))
	})
}
