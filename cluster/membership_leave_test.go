package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/warrenmq/warren/internal/freeport"
)

// gossipNode starts a real memberlist for id on addr (loopback, the local
// profile) and joins it to join, if any.
func gossipNode(t *testing.T, id, addr string, join ...string) *membership {
	t.Helper()
	cfg := Config{NodeID: id, GossipAddr: addr, GossipLocal: true, GRPCAddr: "127.0.0.1:1"}
	m, err := startMembership(cfg, nil, "127.0.0.1:2", hclog.NewNullLogger(), func() gossipState { return gossipState{} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.ml.Shutdown() })
	if len(join) > 0 && m.pushPull(join) == 0 {
		t.Fatalf("%s could not join %v", id, join)
	}
	return m
}

func waitMemberState(t *testing.T, m *membership, id, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mem, ok := m.get(id)
		if ok && mem.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sees %s as %q (known %v), want %q", m.self, id, mem.State, ok, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQuickRejoinIsNotLeaving: a node that leaves gracefully and restarts
// at once under the same id and address is alive to its peers, not
// "leaving", although its previous process's leave notice is still being
// gossiped (relayed by peers for a while). That notice names the boot it
// came from, and a peer drops one that is not of the process it now knows;
// the restarted node drops notices about itself. (A rolling upgrade saw a
// restarted node listed as leaving for minutes, and no leadership moved to
// it.)
func TestQuickRejoinIsNotLeaving(t *testing.T) {
	addrA, addrB := mustGossipAddr(t), mustGossipAddr(t)
	a := gossipNode(t, "a", addrA)
	b := gossipNode(t, "b", addrB, addrA)
	waitMemberState(t, a, "b", MemberAlive)

	b.announceLeaving()
	waitMemberState(t, a, "b", MemberLeaving)
	oldNotice := b.leaveNoticeMsg()
	if err := b.leave(); err != nil {
		t.Fatal(err)
	}
	waitMemberState(t, a, "b", MemberLeft)

	b2 := gossipNode(t, "b", addrB, addrA)
	if b2.boot == b.boot {
		t.Fatal("the restarted process has its predecessor's boot")
	}
	waitMemberState(t, a, "b", MemberAlive)
	waitMemberState(t, b2, "a", MemberAlive)

	// The old process's notice, relayed late, to both.
	a.NotifyMsg(oldNotice)
	b2.NotifyMsg(oldNotice)
	if mem, _ := a.get("b"); mem.State != MemberAlive {
		t.Fatalf("a late notice of b's previous process made a see b as %q", mem.State)
	}
	if mem, _ := b2.get("b"); mem.State != MemberAlive {
		t.Fatalf("the restarted b took its predecessor's notice for itself: %q", mem.State)
	}
	// A notice without a boot (an earlier build) still counts, and the
	// current process's own notice does too.
	gossipNode(t, "c", mustGossipAddr(t), addrA)
	waitMemberState(t, a, "c", MemberAlive)
	a.NotifyMsg(append([]byte{gossipStateVersion, gossipMsgLeaving}, "c"...))
	waitMemberState(t, a, "c", MemberLeaving)
	a.NotifyMsg(b2.leaveNoticeMsg())
	waitMemberState(t, a, "b", MemberLeaving)
}

func mustGossipAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Gossip()
	if err != nil {
		t.Fatal(fmt.Errorf("gossip port: %w", err))
	}
	return addr
}
