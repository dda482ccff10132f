package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warrenmq/warren/internal/netlab"
)

// nemesis injects and heals faults on the cluster's processes and network,
// and knows which nodes are down (killed, paused or cut off) for the
// monitor.
type nemesis struct {
	c *cluster

	mu   sync.Mutex
	down map[*node]bool
}

func newNemesis(c *cluster) *nemesis {
	return &nemesis{c: c, down: map[*node]bool{}}
}

// up reports whether n is running, not paused and not cut off.
func (m *nemesis) up(n *node) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.down[n]
}

func (m *nemesis) setDown(ns []*node, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range ns {
		if down {
			m.down[n] = true
		} else {
			delete(m.down, n)
		}
	}
}

// active is an injected fault waiting to be healed.
type active struct {
	name    string    // e.g. "kill n2 (leader of q1)"
	targets []*node   // the nodes killed, paused or cut off
	at      time.Time // when the fault hit (after finding its target)
	heal    func(ctx context.Context) error
}

// inject starts the fault of step s.
func (m *nemesis) inject(ctx context.Context, s Step) (*active, error) {
	switch s.Kind {
	case Kill, KillLeader:
		n, why, err := m.target(ctx, s)
		if err != nil {
			return nil, err
		}
		return m.kill(s.Kind, why, []*node{n})
	case KillMinority:
		var ns []*node
		for _, i := range s.Nodes {
			ns = append(ns, m.c.nodes[i])
		}
		return m.kill(s.Kind, "", ns)
	case PowerLoss:
		return m.kill(s.Kind, "", m.c.nodes)
	case Pause:
		n, why, err := m.target(ctx, s)
		if err != nil {
			return nil, err
		}
		return m.pause(n, why)
	case Partition:
		return m.partition(ctx, s)
	}
	return nil, fmt.Errorf("unknown fault %q", s.Kind)
}

// target resolves the node a step aims at: its drawn node, or the leader
// of its queue's group. why describes a leader target.
func (m *nemesis) target(ctx context.Context, s Step) (*node, string, error) {
	if s.Target != targetLeader {
		return m.c.nodes[s.Node], "", nil
	}
	queue := queueNames[s.Queue]
	group, err := m.c.queueGroup(ctx, queue)
	if err != nil {
		return nil, "", fmt.Errorf("leader of %s: %w", queue, err)
	}
	n, err := m.c.groupLeader(ctx, group, m.up)
	if err != nil {
		return nil, "", fmt.Errorf("leader of %s: %w", queue, err)
	}
	return n, fmt.Sprintf("leader of %s for %s", group, queue), nil
}

// kill sends SIGKILL to ns at once; healing restarts them.
func (m *nemesis) kill(kind Fault, why string, ns []*node) (*active, error) {
	m.setDown(ns, true)
	at := time.Now()
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.kill()
		}()
	}
	wg.Wait()
	a := &active{name: describe(kind, ns, why), targets: ns, at: at}
	a.heal = func(ctx context.Context) error {
		err := m.c.restart(ctx, ns)
		if err == nil {
			m.setDown(ns, false)
		}
		return err
	}
	return a, errors.Join(errs...)
}

// pause sends SIGSTOP to n; healing sends SIGCONT.
func (m *nemesis) pause(n *node, why string) (*active, error) {
	m.setDown([]*node{n}, true)
	a := &active{name: describe(Pause, []*node{n}, why), targets: []*node{n}, at: time.Now()}
	a.heal = func(context.Context) error {
		if err := n.signal(syscall.SIGCONT); err != nil {
			return err
		}
		m.setDown([]*node{n}, false)
		return nil
	}
	return a, n.signal(syscall.SIGSTOP)
}

// partition cuts the network: one node (drawn, or a leader) on its own
// side, everything else (the client namespace included) on the other; or,
// for the ring, each node loses the nodes it is not a neighbour of.
func (m *nemesis) partition(ctx context.Context, s Step) (*active, error) {
	lab := m.c.lab
	if lab == nil {
		return nil, errors.New("partition needs the network lab")
	}
	hosts := lab.Hosts()
	heal := func(cut []*node) func(context.Context) error {
		return func(context.Context) error {
			if err := lab.Heal(); err != nil {
				return err
			}
			m.setDown(cut, false)
			return nil
		}
	}
	if s.Target == targetRing {
		pairs := ringCuts(len(m.c.nodes))
		at := time.Now()
		var names []string
		var errs []error
		for _, p := range pairs {
			a, b := m.c.nodes[p[0]], m.c.nodes[p[1]]
			names = append(names, a.id+"-"+b.id)
			errs = append(errs, lab.Cut(a.host, b.host))
		}
		act := &active{name: "partition ring (cut " + strings.Join(names, " ") + ")", heal: heal(nil), at: at}
		return act, errors.Join(errs...)
	}
	n, why, err := m.target(ctx, s)
	if err != nil {
		return nil, err
	}
	var rest []*netlab.Host
	for _, h := range hosts {
		if h != n.host {
			rest = append(rest, h)
		}
	}
	m.setDown([]*node{n}, true)
	act := &active{name: describe(Partition, []*node{n}, why), targets: []*node{n}, heal: heal([]*node{n}), at: time.Now()}
	return act, lab.Partition([]*netlab.Host{n.host}, rest)
}

// ringCuts returns the node pairs to cut for a "majority ring" of n
// nodes: on a circle, each node keeps only its two nearest neighbours, so
// every node sees a majority (itself and them) and no two nodes see the
// same majority. For 5 nodes that cuts every pair at distance 2. For 3
// nodes a ring cuts nothing, so one pair is cut instead: n1 and n2 each see
// only n3, which sees both (a "bridge").
func ringCuts(n int) [][2]int {
	if n == 3 {
		return [][2]int{{0, 1}}
	}
	var out [][2]int
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := min(j-i, n-(j-i))
			if d > 1 {
				out = append(out, [2]int{i, j})
			}
		}
	}
	return out
}

// describe names a fault for logs and the history: "kill n2 (leader of q1
// for chaos-direct)".
func describe(kind Fault, ns []*node, why string) string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.id
	}
	s := string(kind) + " " + strings.Join(ids, ",")
	if why != "" {
		s += " (" + why + ")"
	}
	return s
}

// healAll brings every node back: restarts dead ones, resumes paused ones
// and heals the network.
func (m *nemesis) healAll(ctx context.Context, timeout time.Duration) error {
	var errs []error
	if m.c.lab != nil {
		errs = append(errs, m.c.lab.Heal())
	}
	var dead []*node
	for _, n := range m.c.nodes {
		if !n.running() {
			dead = append(dead, n)
			continue
		}
		n.mu.Lock()
		paused := n.paused
		n.mu.Unlock()
		if paused {
			errs = append(errs, n.signal(syscall.SIGCONT))
		}
	}
	if len(dead) > 0 {
		errs = append(errs, m.c.restart(ctx, dead))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.setDown(m.c.nodes, false)
	return m.c.waitHealthy(ctx, timeout)
}
