package manage

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/version"
)

// The overview's rate charts: this node samples its message counters
// (broker.MessageTotals: the queue groups it led) every historyStep and
// keeps historySpan of samples, so a chart needs no time-series store.
const (
	historyStep = 5 * time.Second
	historySpan = 10 * time.Minute
)

// rateSample is one step's rates, per second.
type rateSample struct {
	// At is the end of the step, in Unix milliseconds.
	At        int64   `json:"t"`
	Publish   float64 `json:"publish"`
	Deliver   float64 `json:"deliver"`
	Redeliver float64 `json:"redeliver"`
	Ack       float64 `json:"ack"`
}

// rateHistory is a ring of rate samples.
type rateHistory struct {
	read func() broker.MessageCounts
	max  int
	stop chan struct{}
	done sync.WaitGroup

	mu      sync.Mutex
	samples []rateSample
	last    broker.MessageCounts
	lastAt  time.Time
}

func startRateHistory(read func() broker.MessageCounts, span, step time.Duration) *rateHistory {
	h := &rateHistory{read: read, max: int(span / step), stop: make(chan struct{}), last: read(), lastAt: time.Now()}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(step)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case now := <-t.C:
				h.sample(now)
			}
		}
	}()
	return h
}

func (h *rateHistory) sample(now time.Time) {
	c := h.read()
	h.mu.Lock()
	defer h.mu.Unlock()
	secs := now.Sub(h.lastAt).Seconds()
	if secs <= 0 {
		return
	}
	rate := func(a, b uint64) float64 { return float64(a-b) / secs }
	h.samples = append(h.samples, rateSample{
		At: now.UnixMilli(), Publish: rate(c.Published, h.last.Published), Deliver: rate(c.Delivered, h.last.Delivered),
		Redeliver: rate(c.Redelivered, h.last.Redelivered), Ack: rate(c.Acked, h.last.Acked),
	})
	if len(h.samples) > h.max {
		h.samples = slices.Delete(h.samples, 0, len(h.samples)-h.max)
	}
	h.last, h.lastAt = c, now
}

func (h *rateHistory) snapshot() []rateSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.samples)
}

func (h *rateHistory) close() {
	close(h.stop)
	h.done.Wait()
}

// memberJSON is a cluster member with its role in each Raft group.
type memberJSON struct {
	Name    string `json:"name"`
	Zone    string `json:"zone"`
	State   string `json:"state"`
	Version string `json:"version"`
	// Since is when this node saw the member enter State (Unix ms, 0
	// unknown).
	Since    int64  `json:"since"`
	GRPCAddr string `json:"grpc_addr"`
	RaftAddr string `json:"raft_addr"`
	// Roles maps each group to leader, voter, nonvoter or "" (not a
	// member of it).
	Roles map[string]string `json:"roles"`
}

// groupJSON is a Raft group's leadership and replication.
type groupJSON struct {
	Name         string     `json:"name"`
	Leader       string     `json:"leader"`
	Term         uint64     `json:"term"`
	CommitIndex  uint64     `json:"commit_index"`
	AppliedIndex uint64     `json:"applied_index"`
	Peers        []peerJSON `json:"peers"`
}

type peerJSON struct {
	ID       string `json:"id"`
	Suffrage string `json:"suffrage"`
	// Lag is how many entries it is behind the leader, -1 unknown.
	Lag int64 `json:"lag"`
}

// clusterView reads members and groups (ClusterStatus's view).
func (s *Server) clusterView(r *http.Request) ([]memberJSON, []groupJSON) {
	node := s.b.Node()
	var groups []groupJSON
	roles := map[string]map[string]string{}
	for _, g := range node.GroupStatuses(r.Context()) {
		gj := groupJSON{Name: g.Name, Leader: g.LeaderID, Term: g.Term, CommitIndex: g.CommitIndex, AppliedIndex: g.AppliedIndex, Peers: []peerJSON{}}
		for _, p := range g.Peers {
			gj.Peers = append(gj.Peers, peerJSON{ID: p.ID, Suffrage: p.Suffrage, Lag: p.Lag})
			role := "voter"
			switch {
			case p.ID == g.LeaderID:
				role = "leader"
			case p.Suffrage != "" && p.Suffrage != "Voter":
				role = "nonvoter"
			}
			if roles[p.ID] == nil {
				roles[p.ID] = map[string]string{}
			}
			roles[p.ID][g.Name] = role
		}
		groups = append(groups, gj)
	}
	var members []memberJSON
	for _, m := range node.Members() {
		mj := memberJSON{Name: m.ID, Zone: m.Zone, State: m.State, Version: m.Version, GRPCAddr: m.GRPCAddr, RaftAddr: m.RaftAddr, Roles: roles[m.ID]}
		if !m.Since.IsZero() {
			mj.Since = m.Since.UnixMilli()
		}
		if mj.Roles == nil {
			mj.Roles = map[string]string{}
		}
		members = append(members, mj)
	}
	slices.SortFunc(members, func(a, b memberJSON) int { return cmpString(a.Name, b.Name) })
	if groups == nil {
		groups = []groupJSON{}
	}
	if members == nil {
		members = []memberJSON{}
	}
	return members, groups
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// overviewJSON is /api/overview's answer.
type overviewJSON struct {
	Node         string `json:"node"`
	Version      string `json:"warren_version"`
	ObjectTotals struct {
		Queues    int `json:"queues"`
		Exchanges int `json:"exchanges"`
		Consumers int `json:"consumers"`
		Sessions  int `json:"sessions"`
		VHosts    int `json:"vhosts"`
	} `json:"object_totals"`
	QueueTotals struct {
		Messages               uint64 `json:"messages"`
		MessagesReady          uint64 `json:"messages_ready"`
		MessagesUnacknowledged uint64 `json:"messages_unacknowledged"`
	} `json:"queue_totals"`
	// MessageTotals are this node's counters since it started (the groups
	// it led); RatesHistory its rates over the last 10 minutes.
	MessageTotals struct {
		Published    uint64 `json:"publish"`
		Delivered    uint64 `json:"deliver"`
		Redelivered  uint64 `json:"redeliver"`
		Acked        uint64 `json:"ack"`
		DeadLettered uint64 `json:"dead_lettered"`
	} `json:"message_totals"`
	RatesHistory []rateSample `json:"rates_history"`
	StepSeconds  int          `json:"rates_step_seconds"`
	Members      []memberJSON `json:"members"`
	Groups       []groupJSON  `json:"groups"`
	Alarms       alarmsJSON   `json:"alarms"`
}

type alarmsJSON struct {
	MemoryAlarm   bool   `json:"memory_alarm"`
	DiskAlarm     bool   `json:"disk_alarm"`
	MemoryHigh    uint64 `json:"memory_high_watermark"`
	HeapBytes     uint64 `json:"heap_bytes"`
	DiskFreeLow   uint64 `json:"disk_free_limit"`
	DiskFreeBytes uint64 `json:"disk_free_bytes"`
}

// overview answers GET /api/overview: members, groups, totals, rates and
// alarms; it needs what ClusterStatus needs (monitoring). Queue totals
// read every queue's counts from this node's replicas (no catch-up with
// the leaders: the overview is a glance, the queue list is exact).
func (s *Server) overview(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.authorize(c, "/", access.ClusterStatusNeeds()...); err != nil {
		return err
	}
	var o overviewJSON
	o.Node = s.b.Node().NodeID()
	o.Version = version.Get().Short()
	vhosts, _ := s.b.VHostsAfter("", maxVHostsListed)
	o.ObjectTotals.VHosts = len(vhosts)
	for _, vh := range vhosts {
		o.ObjectTotals.Exchanges += len(s.b.Exchanges(vh))
		for _, n := range s.b.QueueNames(vh) {
			q, err := s.b.Queue(vh, n)
			if err != nil {
				continue
			}
			o.ObjectTotals.Queues++
			o.ObjectTotals.Consumers += int(q.Consumers)
			o.QueueTotals.MessagesReady += q.Ready
			o.QueueTotals.MessagesUnacknowledged += q.Unacked
		}
	}
	o.QueueTotals.Messages = o.QueueTotals.MessagesReady + o.QueueTotals.MessagesUnacknowledged
	sessions, _ := s.b.LocalSessions("", maxSessionsListed)
	o.ObjectTotals.Sessions = len(sessions)
	t := s.b.MessageTotals()
	o.MessageTotals.Published, o.MessageTotals.Delivered, o.MessageTotals.Redelivered = t.Published, t.Delivered, t.Redelivered
	o.MessageTotals.Acked, o.MessageTotals.DeadLettered = t.Acked, t.DeadLettered
	o.RatesHistory = s.history.snapshot()
	if o.RatesHistory == nil {
		o.RatesHistory = []rateSample{}
	}
	o.StepSeconds = int(historyStep / time.Second)
	o.Members, o.Groups = s.clusterView(r)
	st := s.cfg.Watermarks.Status()
	o.Alarms = alarmsJSON{st.MemoryAlarm, st.DiskAlarm, st.MemoryHigh, st.HeapBytes, st.DiskFreeLow, st.DiskFreeBytes}
	writeJSON(w, http.StatusOK, o)
	return nil
}

// nodes answers GET /api/nodes: the members with their roles.
func (s *Server) nodes(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.authorize(c, "/", access.ClusterStatusNeeds()...); err != nil {
		return err
	}
	members, _ := s.clusterView(r)
	writeJSON(w, http.StatusOK, members)
	return nil
}

// maxSessionsListed bounds the sessions one call reads.
const maxSessionsListed = 100_000

type connectionJSON struct {
	Name    string `json:"name"`
	Node    string `json:"node"`
	Streams int    `json:"session_streams"`
}

// connections answers GET /api/connections: the client sessions with a
// Session stream open on this node (Warren's sessions stand where
// RabbitMQ's connections do; other nodes list theirs). It needs what
// ClusterStatus needs (monitoring): session ids are not tied to a virtual
// host or a user the broker records.
func (s *Server) connections(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, []string{"name"})
	if err != nil {
		return err
	}
	if err := s.authorize(c, "/", access.ClusterStatusNeeds()...); err != nil {
		return err
	}
	sessions, _ := s.b.LocalSessions("", maxSessionsListed)
	node := s.b.Node().NodeID()
	all := make([]connectionJSON, len(sessions))
	for i, x := range sessions {
		all[i] = connectionJSON{Name: x.ID, Node: node, Streams: x.Streams}
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(x connectionJSON) string { return x.Name }, func(x connectionJSON, _ string) string { return x.Name }))
	return nil
}

// closeConnection answers DELETE /api/connections/{name}: it closes the
// session as RabbitMQ's API closes a connection (administrator): every
// stream of it on this node ends, so its unacked deliveries and gets
// return to their queues and its exclusive queues go. A client that
// recovers by itself connects again (broker.CloseSession). 404 when the
// session has no stream on this node.
func (s *Server) closeConnection(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "session")
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if s.b.CloseSession(name) == 0 {
		return notFound("session %q has no stream open on this node", name)
	}
	return noContent(w)
}
