package chaos

import (
	"context"
	"sync"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// monitorInterval is how often the monitor samples leadership.
const monitorInterval = 200 * time.Millisecond

// monitor samples, while a run lasts, whether every Raft group has a
// leader that is up, to measure how long each fault leaves a group
// without one.
type monitor struct {
	c    *cluster
	up   func(*node) bool
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	samples []leaderSample
}

// leaderSample is one observation: at t, every group was led (or not).
type leaderSample struct {
	t   time.Time
	led bool
}

func startMonitor(ctx context.Context, c *cluster, up func(*node) bool) *monitor {
	m := &monitor{c: c, up: up, stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop(ctx)
	return m
}

func (m *monitor) loop(ctx context.Context) {
	defer close(m.done)
	for {
		t := time.Now()
		led := m.allLed(ctx)
		m.mu.Lock()
		m.samples = append(m.samples, leaderSample{t: t, led: led})
		m.mu.Unlock()
		select {
		case <-m.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(time.Until(t.Add(monitorInterval))):
		}
	}
}

// allLed reports whether every group has a leader that is up and that an
// up node names, and that names itself.
func (m *monitor) allLed(ctx context.Context) bool {
	views := map[string]*pb.ClusterStatusResponse{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range m.c.nodes {
		if !m.up(n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := n.status(ctx); err == nil {
				mu.Lock()
				views[n.id] = st
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	groups := map[string]bool{}
	for _, st := range views {
		for _, g := range st.GetGroups() {
			groups[g.GetName()] = groups[g.GetName()] || m.ledBy(views, g)
		}
	}
	if len(groups) == 0 {
		return false
	}
	for _, led := range groups {
		if !led {
			return false
		}
	}
	return true
}

// ledBy reports whether g's leader, as one view names it, is up and names
// itself leader of g.
func (m *monitor) ledBy(views map[string]*pb.ClusterStatusResponse, g *pb.GroupStatus) bool {
	l := g.GetLeaderId()
	lv := views[l]
	return l != "" && lv != nil && leaderOf(lv, g.GetName()) == l
}

// close stops sampling.
func (m *monitor) close() {
	close(m.stop)
	<-m.done
}

// leaderless returns how long after start the groups went without a
// leader: 0 when the first sample at or after start saw every group led,
// else the time of the first sample that did; -1 if none did before end.
func (m *monitor) leaderless(start, end time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := true
	for _, s := range m.samples {
		if s.t.Before(start) {
			continue
		}
		if !end.IsZero() && s.t.After(end) {
			break
		}
		if s.led {
			if first {
				return 0
			}
			return s.t.Sub(start)
		}
		first = false
	}
	return -1
}
