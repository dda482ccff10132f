package raftgroup

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// slowElections makes every node of name wait a minute without contact
// before it stands for election, so that any election a test sees within
// that minute was started by the leader watch.
func slowElections(t *testing.T, nodes []*groupNode, name string) {
	t.Helper()
	for _, n := range nodes {
		r := n.groups[name].raft
		rc := r.ReloadableConfig()
		rc.HeartbeatTimeout, rc.ElectionTimeout = time.Minute, time.Minute
		if err := r.ReloadConfig(rc); err != nil {
			t.Fatal(err)
		}
	}
}

func threeNodeGroup(t *testing.T, name string) []*groupNode {
	t.Helper()
	nodes := newGroupNodes(t, 3)
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: n.addr()})
	}
	for i, n := range nodes {
		n.open(t, name, i == 0, servers)
	}
	return nodes
}

// TestDeadLeaderReplacedAtOnce: the leader's node goes away as a killed
// process does (its Raft port closed, its connections ended). With a
// minute of heartbeat timeout no follower would stand for election within
// the test's deadline; the leader watch of a follower sees the closed
// connections, finds the leader's port refusing connections and stands at
// once. The new leader commits, and exactly one follower stood (with
// equal logs the first in id order wins, so the second never has to).
func TestDeadLeaderReplacedAtOnce(t *testing.T) {
	nodes := threeNodeGroup(t, "q0")
	old := waitAgreedGroupLeader(t, nodes, "q0")
	if _, err := proposeOnGroupLeader(nodes, "q0", "before"); err != nil {
		t.Fatal(err)
	}
	// A commit needs one follower; wait for both, so the first in line
	// is not refused for a shorter log (then the second stands too, as
	// it should, and this test would count two).
	eventually(t, 30*time.Second, func() error {
		want := old.groups["q0"].raft.LastIndex()
		for _, n := range nodes {
			if got := n.groups["q0"].raft.LastIndex(); got != want {
				return fmt.Errorf("%s holds the log to %d, the leader to %d", n.id, got, want)
			}
		}
		return nil
	})
	slowElections(t, nodes, "q0")
	term := old.groups["q0"].raft.CurrentTerm()

	// "Kill" the leader's process: its mux stops listening and closes
	// every connection; its Raft, cut off, steps down when its lease ends.
	if err := old.mux.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*groupNode
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	eventually(t, 30*time.Second, func() error {
		l, err := agreedGroupLeader(rest, "q0")
		if err != nil {
			return err
		}
		if l.groups["q0"].raft.CurrentTerm() <= term {
			return fmt.Errorf("%s leads in the old term", l.id)
		}
		return nil
	})
	if _, err := proposeOnGroupLeader(rest, "q0", "after"); err != nil {
		t.Fatal(err)
	}
	var stood uint64
	for _, n := range rest {
		stood += n.groups["q0"].DeadLeaderElections()
	}
	if stood != 1 {
		t.Errorf("%d followers stood for election after the leader died, want 1", stood)
	}
}

// TestLiveLeaderNotDeposedByClosedConnections: connections from a live
// leader that end (Raft's transport closes idle or broken ones) make the
// followers probe it; the probe finds it up, and nobody stands.
func TestLiveLeaderNotDeposedByClosedConnections(t *testing.T) {
	nodes := threeNodeGroup(t, "q0")
	l := waitAgreedGroupLeader(t, nodes, "q0")
	if _, err := proposeOnGroupLeader(nodes, "q0", "x"); err != nil {
		t.Fatal(err)
	}
	slowElections(t, nodes, "q0")
	term := l.groups["q0"].raft.CurrentTerm()
	// Close the leader's outbound connections: its streams and, through
	// the layer's set, the pooled ones. It dials again at once.
	l.groups["q0"].trans.CloseStreams()
	layer := l.groups["q0"].layer.(*muxLayer)
	layer.mu.Lock()
	var dialed []*layerConn
	for c := range layer.conns {
		if !c.accepted {
			dialed = append(dialed, c)
		}
	}
	layer.mu.Unlock()
	for _, c := range dialed {
		c.Close()
	}
	eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			if n != l && n.groups["q0"].leaderProbesAlive.Load() > 0 {
				return nil
			}
		}
		return errors.New("no follower probed the leader")
	})
	// The probe has answered; a stand would have followed it at once.
	if _, err := proposeOnGroupLeader(nodes, "q0", "y"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got := n.groups["q0"].DeadLeaderElections(); got != 0 {
			t.Errorf("%s stood for election %d times against a live leader", n.id, got)
		}
	}
	if now, _ := agreedGroupLeader(nodes, "q0"); now != l || l.groups["q0"].raft.CurrentTerm() != term {
		t.Errorf("leadership moved from %s (term %d) to %v (term %d)", l.id, term, now, l.groups["q0"].raft.CurrentTerm())
	}
}

// TestMuxProbeIsNotABadHeader: a connection closed before its first byte
// (a liveness probe) is accepted and dropped without counting as a bad
// header; one with a wrong first byte still counts.
func TestMuxProbeIsNotABadHeader(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	eventually(t, 10*time.Second, func() error {
		m.mu.Lock()
		pending := len(m.pending)
		m.mu.Unlock()
		if m.Stats().Accepted < 1 || pending > 0 {
			return errors.New("probe not handled yet")
		}
		return nil
	})
	c, err = net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 10*time.Second, func() error {
		if st := m.Stats(); st.BadHeader != 1 {
			return fmt.Errorf("stats %+v, want one bad header (the HTTP request, not the probe)", st)
		}
		return nil
	})
}
