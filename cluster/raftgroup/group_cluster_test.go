package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// These tests run several nodes in one process on loopback TCP. On a
// loaded machine a leader can lose its lease at any moment, so operations
// go to whichever member leads at the time and are retried on
// *NotLeaderError and ErrOutcomeUnknown (listFSM ignores duplicates, so
// retrying a proposal is safe), and the checks compare converged states
// rather than assume one stable leader.

// groupNode is one in-process node: a Mux on its own loopback port and a
// Group with a listFSM per group name.
type groupNode struct {
	id     string
	dir    string
	mux    *Mux
	groups map[string]*Group
	fsms   map[string]*listFSM
	// logStore and config, when set, replace the defaults of open: the
	// bolt store without fsync, testConfig.
	logStore LogStore
	config   *Config
}

func (n *groupNode) addr() raft.ServerAddress { return raft.ServerAddress(n.mux.Addr().String()) }

// live reports whether n runs group name.
func (n *groupNode) live(name string) bool {
	g := n.groups[name]
	return g != nil && g.raft.State() != raft.Shutdown
}

// newGroupNodes starts count nodes with a Mux each and no groups.
func newGroupNodes(t *testing.T, count int) []*groupNode {
	nodes := make([]*groupNode, count)
	for i := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		nodes[i] = &groupNode{
			id: id, dir: t.TempDir(), mux: newTestMux(t, raftTestLogger(t, id)),
			groups: map[string]*Group{}, fsms: map[string]*listFSM{},
		}
	}
	return nodes
}

// open opens group name on n; with bootstrap set it bootstraps the group
// with servers (nil: n alone).
func (n *groupNode) open(t *testing.T, name string, bootstrap bool, servers []raft.Server) *Group {
	t.Helper()
	f := &listFSM{}
	cfg := testConfig()
	if n.config != nil {
		cfg = *n.config
	}
	g, err := Open(Options{
		Name: name, NodeID: n.id, DataDir: n.dir, FSM: f, Layer: n.mux.Layer(name),
		Config: cfg, Logger: raftTestLogger(t, n.id),
		Bootstrap: bootstrap, BootstrapServers: servers,
		LogStore: n.logStore, NoSync: n.logStore == LogStoreAuto || n.logStore == LogStoreBolt,
	})
	if err != nil {
		t.Fatalf("%s: open %s: %v", n.id, name, err)
	}
	shutdownOnCleanup(t, g)
	n.groups[name], n.fsms[name] = g, f
	return g
}

// agreedGroupLeader returns the member that every running member of group name
// names as leader and that leads, or an error describing what they see.
func agreedGroupLeader(nodes []*groupNode, name string) (*groupNode, error) {
	var leader *groupNode
	var ids []raft.ServerID
	for _, n := range nodes {
		if !n.live(name) {
			continue
		}
		_, id := n.groups[name].Leader()
		ids = append(ids, id)
		if string(id) == n.id && n.groups[name].IsLeader() {
			leader = n
		}
	}
	for _, id := range ids {
		if id == "" || id != ids[0] {
			return nil, fmt.Errorf("group %s: members see leaders %q", name, ids)
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("group %s: no member leads; members see %q", name, ids)
	}
	return leader, nil
}

// waitAgreedGroupLeader waits until agreedGroupLeader succeeds.
func waitAgreedGroupLeader(t *testing.T, nodes []*groupNode, name string) *groupNode {
	t.Helper()
	var leader *groupNode
	eventually(t, 10*time.Second, func() error {
		var err error
		leader, err = agreedGroupLeader(nodes, name)
		return err
	})
	return leader
}

// anyGroupLeader returns a running member that believes it leads group name.
func anyGroupLeader(nodes []*groupNode, name string) (*groupNode, error) {
	for _, n := range nodes {
		if n.live(name) && n.groups[name].IsLeader() {
			return n, nil
		}
	}
	return nil, fmt.Errorf("group %s: no leader", name)
}

// onGroupLeader runs op on the current leader of group name until it succeeds,
// retrying when there is no leader or op fails with *NotLeaderError or
// ErrOutcomeUnknown. op must be idempotent. Safe on any goroutine.
func onGroupLeader(nodes []*groupNode, name string, op func(n *groupNode) error) error {
	var fatal error
	err := retryFor(20*time.Second, func() error {
		n, err := anyGroupLeader(nodes, name)
		if err != nil {
			return err
		}
		err = op(n)
		var nle *NotLeaderError
		if err != nil && !errors.As(err, &nle) && !errors.Is(err, ErrOutcomeUnknown) {
			fatal = err
			return nil
		}
		return err
	})
	if fatal != nil {
		return fatal
	}
	return err
}

// proposeOnGroupLeader proposes data to group name's leader, retrying as
// onGroupLeader does, and returns the FSM's response.
func proposeOnGroupLeader(nodes []*groupNode, name, data string) (resp string, err error) {
	err = onGroupLeader(nodes, name, func(n *groupNode) error {
		ctx, cancel := context.WithTimeout(context.Background(), scaled(5*time.Second))
		defer cancel()
		var perr error
		resp, _, perr = Propose[string](ctx, n.groups[name], []byte(data))
		return perr
	})
	return resp, err
}

// waitGroupConverged waits until every running member of group name holds the
// same list, and returns it.
func waitGroupConverged(t *testing.T, nodes []*groupNode, name string) []string {
	t.Helper()
	var list []string
	eventually(t, 10*time.Second, func() error {
		list = nil
		var first string
		for _, n := range nodes {
			if !n.live(name) {
				continue
			}
			l := n.fsms[name].list()
			if first == "" {
				list, first = l, n.id
			} else if !slices.Equal(l, list) {
				return fmt.Errorf("group %s: %s has %d entries ending %q, %s has %d ending %q",
					name, first, len(list), lastFew(list), n.id, len(l), lastFew(l))
			}
		}
		return nil
	})
	return list
}

func TestGroupsOnThreeNodes(t *testing.T) {
	groups := []string{"meta", "q0", "q1"}
	nodes := newGroupNodes(t, 3)
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: n.addr()})
	}
	// Node 1 bootstraps every group with all three voters; the others
	// start empty and learn the configuration from the leader.
	for i, n := range nodes {
		for _, name := range groups {
			n.open(t, name, i == 0, servers)
		}
	}
	for _, name := range groups {
		waitAgreedGroupLeader(t, nodes, name)
	}

	// 20 concurrent proposals per group, all groups at once, reach every
	// replica in the same order, and each response names its entry.
	var wg sync.WaitGroup
	errs := make(chan error, 3*20)
	for _, name := range groups {
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := fmt.Sprintf("%s-%d", name, i)
				resp, err := proposeOnGroupLeader(nodes, name, data)
				if err != nil {
					errs <- fmt.Errorf("propose %s: %w", data, err)
					return
				}
				if s := resp; len(s) < len(data) || s[len(s)-len(data):] != data {
					errs <- fmt.Errorf("propose %s: response %v", data, resp)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, name := range groups {
		list := waitGroupConverged(t, nodes, name)
		want := make([]string, 20)
		for i := range want {
			want[i] = fmt.Sprintf("%s-%d", name, i)
		}
		if got := slices.Sorted(slices.Values(list)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Fatalf("group %s holds %q, want %q in some order", name, got, want)
		}
		// Every replica's FSM has applied the same last entry.
		eventually(t, 10*time.Second, func() error {
			var idx []uint64
			for _, n := range nodes {
				idx = append(idx, n.groups[name].AppliedIndex())
			}
			if idx[0] == 0 || slices.Min(idx) != slices.Max(idx) {
				return fmt.Errorf("group %s: applied indexes %v", name, idx)
			}
			return nil
		})
	}

	// Followers refuse proposals and name the leader. ("probe" is only
	// appended if a follower becomes leader in the middle of this.)
	for _, name := range groups {
		eventually(t, 10*time.Second, func() error {
			l, err := agreedGroupLeader(nodes, name)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n == l {
					continue
				}
				_, _, err := Propose[string](context.Background(), n.groups[name], []byte("probe"))
				var nle *NotLeaderError
				if !errors.As(err, &nle) {
					return fmt.Errorf("%s/%s: propose on follower: %v, want *NotLeaderError", n.id, name, err)
				}
				if nle.Group != name || nle.LeaderID != l.id || nle.LeaderAddr != string(l.addr()) {
					return fmt.Errorf("%s/%s: %+v, want leader %s at %s", n.id, name, nle, l.id, l.addr())
				}
				if err := n.groups[name].Barrier(context.Background()); !errors.As(err, &nle) {
					return fmt.Errorf("%s/%s: barrier on follower: %v", n.id, name, err)
				}
			}
			return nil
		})
	}

	// Stop each group's leader (only that group: the node's mux and its
	// other groups keep running); the other two elect a new leader, which
	// commits to the surviving follower.
	before := map[string][]string{}
	old := map[string]*groupNode{}
	for _, name := range groups {
		before[name] = waitGroupConverged(t, nodes, name)
		old[name] = waitAgreedGroupLeader(t, nodes, name)
		if err := old[name].groups[name].Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range groups {
		if nl := waitAgreedGroupLeader(t, nodes, name); nl == old[name] {
			t.Fatalf("group %s: stopped leader %s still leads", name, nl.id)
		}
		if _, err := proposeOnGroupLeader(nodes, name, "after-failover"); err != nil {
			t.Fatalf("%s: propose after failover: %v", name, err)
		}
		want := append(slices.Clone(before[name]), "after-failover")
		if got := waitGroupConverged(t, nodes, name); !slices.Equal(got, want) {
			t.Fatalf("group %s after failover holds %q, want %q", name, lastFew(got), lastFew(want))
		}
	}
}

func TestGroupMembershipChanges(t *testing.T) {
	nodes := newGroupNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	waitGroupLeader(t, n1.open(t, "meta", true, nil)) // single voter
	n2.open(t, "meta", false, nil)
	n3.open(t, "meta", false, nil)

	ctx, cancel := context.WithTimeout(context.Background(), scaled(20*time.Second))
	defer cancel()
	for _, n := range []*groupNode{n2, n3} {
		err := onGroupLeader(nodes, "meta", func(l *groupNode) error {
			return l.groups["meta"].AddVoter(ctx, raft.ServerID(n.id), n.addr())
		})
		if err != nil {
			t.Fatalf("add %s: %v", n.id, err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		l, err := anyGroupLeader(nodes, "meta")
		if err != nil {
			return err
		}
		servers, err := l.groups["meta"].Configuration()
		if err != nil || len(servers) != 3 {
			return fmt.Errorf("configuration %v, %v", servers, err)
		}
		return nil
	})
	for i := range 10 {
		if _, err := proposeOnGroupLeader(nodes, "meta", fmt.Sprint("e", i)); err != nil {
			t.Fatal(err)
		}
	}
	if list := waitGroupConverged(t, nodes, "meta"); len(list) != 10 {
		t.Fatalf("replicas hold %q, want 10 entries", list)
	}

	// Move leadership to n2.
	eventually(t, 10*time.Second, func() error {
		l, err := anyGroupLeader(nodes, "meta")
		if err != nil {
			return err
		}
		if l == n2 {
			return nil
		}
		if err := l.groups["meta"].TransferLeadershipTo(raft.ServerID(n2.id), n2.addr()); err != nil {
			return err
		}
		return fmt.Errorf("leader is still %s", l.id)
	})

	// Remove n1; n2 and n3 carry on as a two-voter group.
	err := onGroupLeader(nodes, "meta", func(l *groupNode) error {
		return l.groups["meta"].RemoveServer(ctx, raft.ServerID(n1.id))
	})
	if err != nil {
		t.Fatalf("remove n1: %v", err)
	}
	rest := nodes[1:]
	eventually(t, 10*time.Second, func() error {
		l, err := anyGroupLeader(rest, "meta")
		if err != nil {
			return err
		}
		servers, err := l.groups["meta"].Configuration()
		if err != nil || len(servers) != 2 || slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == "n1" }) {
			return fmt.Errorf("configuration %v, %v", servers, err)
		}
		return nil
	})
	if _, err := proposeOnGroupLeader(rest, "meta", "two-voters"); err != nil {
		t.Fatal(err)
	}
	if list := waitGroupConverged(t, rest, "meta"); len(list) != 11 || list[10] != "two-voters" {
		t.Fatalf("replicas hold %q", lastFew(list))
	}
	eventually(t, 10*time.Second, func() error {
		var nle *NotLeaderError
		if _, _, err := Propose[string](ctx, n1.groups["meta"], []byte("x")); !errors.As(err, &nle) {
			return fmt.Errorf("propose on removed node: %v, want *NotLeaderError", err)
		}
		return nil
	})
}
