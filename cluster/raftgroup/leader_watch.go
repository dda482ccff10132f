package raftgroup

import (
	"errors"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// A follower learns that its leader's process died long before Raft's
// heartbeat timeout would tell it: the connections the leader had opened to
// it (heartbeats, the replication pipeline) end at once, and the leader's
// Raft port then refuses connections. hashicorp/raft has no call that makes
// a follower stand for election, but it obeys a TimeoutNow RPC (the last
// step of a leadership transfer): the receiver becomes a candidate at
// once, skips the pre-vote, and asks for votes with the leadership-transfer
// flag, so the other voters grant it even though they have not timed out
// their dead leader yet. Without that flag the first follower to time out
// is refused by the others ("we have a leader") and the election waits for
// the last one's timeout: that, not the election, was most of a failover's
// 2.5 s.
//
// So when an accepted connection of the group ends, watchLeader checks the
// leader: a refused connection to its Raft address proves its process is
// gone (a dead host, a partition or a paused process answer nothing, and
// are left to the timeouts), and the surviving voters stand in order of
// their ids, one election timeout's fraction apart, so two do not split the
// vote: the first sends TimeoutNow to itself; a later one stands only if
// no live leader is known by its turn (the first had a shorter log, say).
// A live leader costs one TCP connect per closed connection and nothing
// else: the check never acts on anything but a refusal.

// leaderProbeTimeout bounds the connect to the leader's Raft port. A
// refusal comes back in a round trip; anything slower is not a refusal.
const leaderProbeTimeout = 500 * time.Millisecond

// leaderProbeRead is how long an accepted probe waits to be reset by a
// dying process before the leader counts as up.
const leaderProbeRead = 100 * time.Millisecond

// standAfter is how long the voter ranked r among the survivors waits
// before it stands: long enough for the one before it to win an election
// (a vote each, fsynced, over a LAN), short next to the heartbeat timeout.
func (g *Group) standAfter(r int) time.Duration {
	return time.Duration(r) * max(g.cfg.ElectionTimeout/4, 50*time.Millisecond)
}

// peerConnClosed is called by the layer when an accepted connection ends
// on the peer's side; it wakes watchLeader without blocking.
func (g *Group) peerConnClosed() {
	select {
	case g.leaderCheck <- struct{}{}:
	default:
	}
}

// watchLeader runs until Shutdown, checking the leader each time an
// accepted connection ended.
func (g *Group) watchLeader() {
	defer g.watchers.Done()
	for {
		select {
		case <-g.stopWatch:
			return
		case <-g.leaderCheck:
			g.checkLeader()
		}
	}
}

// watchObservations runs until Shutdown, closing leaderChanged at each
// change of leader Raft observes. It is apart from watchLeader, whose
// check may wait, so that callers waiting on LeaderChanged hear at once.
func (g *Group) watchObservations() {
	defer g.watchers.Done()
	for {
		select {
		case <-g.stopWatch:
			return
		case o := <-g.observations:
			if lo, ok := o.Data.(raft.LeaderObservation); ok {
				if lo.LeaderID == "" {
					g.noLeaderSince.CompareAndSwap(0, time.Now().UnixNano())
				} else {
					g.noLeaderSince.Store(0)
				}
			}
			g.leaderMu.Lock()
			close(g.leaderChanged)
			g.leaderChanged = make(chan struct{})
			g.leaderMu.Unlock()
		}
	}
}

// LiveLeader is Leader, less a leader this follower has not heard from
// for half the heartbeat timeout: it heartbeats every tenth to fifth of
// it, so that is several heartbeats missed, and a leader that went
// silent (paused, cut off) is not named to clients or sent their calls
// for the rest of the timeout while Raft still counts it the leader.
func (g *Group) LiveLeader() (addr raft.ServerAddress, id raft.ServerID) {
	addr, id = g.raft.LeaderWithID()
	if id == "" || string(id) == g.nodeID || g.raft.State() != raft.Follower {
		return addr, id
	}
	if time.Since(g.raft.LastContact()) > g.cfg.HeartbeatTimeout/2 {
		return "", ""
	}
	return addr, id
}

// NoLeaderFor returns how long this node has known no leader of the group
// (0 while it knows one, itself included): since it started, or since
// Raft last cleared the leader (an election began, a leader stepped down).
func (g *Group) NoLeaderFor() time.Duration {
	if _, id := g.raft.LeaderWithID(); id != "" {
		return 0
	}
	since := g.noLeaderSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// LeaderChanged returns a channel that is closed when the leader this node
// knows of next changes (to another node, to none, or to this node). Take
// it before reading Leader, so a change in between is not missed.
func (g *Group) LeaderChanged() <-chan struct{} {
	g.leaderMu.Lock()
	defer g.leaderMu.Unlock()
	return g.leaderChanged
}

// checkLeader stands for election when this node is a voting follower
// whose leader's Raft port refuses connections, in its turn among the
// surviving voters.
func (g *Group) checkLeader() {
	if g.raft.State() != raft.Follower {
		return
	}
	addr, id := g.raft.LeaderWithID()
	if addr == "" || string(id) == g.nodeID {
		return
	}
	if !g.leaderGone(addr) {
		g.leaderProbesAlive.Add(1)
		return
	}
	g.StandForElection(id, "the leader's process is gone (its Raft port refuses connections)",
		func() bool { return g.leaderGone(addr) })
}

// StandForElection makes this node, a voting follower of the group whose
// leader id is lost, a candidate now, in its turn among the other voters:
// the voters but the lost leader, in id order, each waits standAfter(its
// rank) and stands only if it is still a follower, no other leader has
// appeared, and stillLost (asked again after the wait) holds. It sends
// itself a TimeoutNow, the last step of a leadership transfer: the
// candidate skips the pre-vote and the voters grant their votes although
// they have a leader. Only for a leader known to be lost: a live one
// would be deposed. It reports whether it stood; why is logged.
func (g *Group) StandForElection(lost raft.ServerID, why string, stillLost func() bool) bool {
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	var voters []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != lost {
			voters = append(voters, string(s.ID))
		}
	}
	slices.Sort(voters)
	rank := slices.Index(voters, g.nodeID)
	if rank < 0 {
		return false // not a voter: it cannot stand
	}
	if d := g.standAfter(rank); d > 0 {
		select {
		case <-time.After(d):
		case <-g.stopWatch:
			return false
		}
	}
	// Stand only if nobody has taken over meanwhile.
	if _, now := g.raft.LeaderWithID(); g.raft.State() != raft.Follower || (now != "" && now != lost) || !stillLost() {
		g.logger.Debug(why+": not standing, it changed meanwhile", "leader", string(lost), "rank", rank,
			"state", g.raft.State().String(), "now", string(now))
		return false
	}
	g.logger.Info(why+": standing for election now", "leader", string(lost), "rank", rank)
	// Raft asks each voter once per election, on a pooled connection; one
	// pooled before that voter restarted fails the request (EOF), and the
	// election then waits out its timeout while the next voter in line
	// stands too and splits the vote (seen in a chaos run). Drop the pool:
	// the votes go out on fresh connections.
	g.trans.CloseStreams()
	req := raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{
		ProtocolVersion: raft.ProtocolVersionMax,
		ID:              []byte(g.nodeID),
		Addr:            g.trans.EncodePeer(raft.ServerID(g.nodeID), g.trans.LocalAddr()),
	}}
	var resp raft.TimeoutNowResponse
	if err := g.trans.TimeoutNow(raft.ServerID(g.nodeID), g.trans.LocalAddr(), &req, &resp); err != nil {
		g.logger.Warn("could not start the election", "error", err)
		return false
	}
	g.deadLeaderElections.Add(1)
	return true
}

// LeaderSilence returns the leader this node follows and how long ago it
// last heard from it; "" and 0 when this node is not a follower (it leads,
// or an election is on). A follower that knows no leader (its heartbeat
// timeout cleared it) returns "" and the time since the last one spoke.
func (g *Group) LeaderSilence() (raft.ServerID, time.Duration) {
	if g.raft.State() != raft.Follower {
		return "", 0
	}
	_, id := g.raft.LeaderWithID()
	return id, time.Since(g.raft.LastContact())
}

// Timings returns the group's Raft timings.
func (g *Group) Timings() Config { return g.cfg }

// leaderGone reports whether the process behind addr is gone: a connection
// to it is refused, or is accepted and then reset or closed before the
// live mux would say anything (it never writes first). The second case is
// a process that is dying as the probe arrives: its connections close
// before its listener does, so the probe can land in the listener's
// backlog and be reset a moment later.
func (g *Group) leaderGone(addr raft.ServerAddress) bool {
	c, err := net.DialTimeout("tcp", string(addr), leaderProbeTimeout)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(leaderProbeRead)); err != nil {
		return false
	}
	var b [1]byte
	_, err = c.Read(b[:])
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// DeadLeaderElections counts the elections this node started because its
// leader's process was gone (see watchLeader).
func (g *Group) DeadLeaderElections() uint64 { return g.deadLeaderElections.Load() }
