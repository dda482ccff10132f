package observe

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/internal/version"
)

// lagTimeout bounds asking the peers for their indexes during a scrape
// (each peer is asked for at most a second, in parallel).
const lagTimeout = 2 * time.Second

// memberStates are the gossip states, each exported (0 when none).
var memberStates = []string{cluster.MemberAlive, cluster.MemberLeaving, cluster.MemberSuspect, cluster.MemberDead, cluster.MemberLeft}

// nodeCollector exports the node: its Raft groups (from raft.Stats(),
// per group), its peers' lag in the groups it leads, the members gossip
// shows, the watermark alarms, the client port's connections and streams,
// and the build. All computed at scrape time.
type nodeCollector struct {
	cfg *Config

	ready, build                                  *prometheus.Desc
	isLeader, hasLeader, term, commit, applied    *prometheus.Desc
	lastIndex, snapIndex, snapBytes, peerLag      *prometheus.Desc
	members                                       *prometheus.Desc
	memAlarm, diskAlarm, memHigh, diskLow         *prometheus.Desc
	heap, diskFree                                *prometheus.Desc
	conns, connsRefused, sessions, consumeStreams *prometheus.Desc
}

func newNodeCollector(cfg *Config) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &nodeCollector{
		cfg:   cfg,
		ready: d("warren_ready", "1 when every Raft group has a leader and this node has caught up (as /readyz), else 0."),
		build: d("warren_build_info", "The build this node runs; always 1.", "version", "commit", "goversion"),

		isLeader:  d("warren_raft_is_leader", "1 when this node leads the group.", "group"),
		hasLeader: d("warren_raft_has_leader", "1 when this node knows a leader of the group.", "group"),
		term:      d("warren_raft_term", "The group's current Raft term on this node.", "group"),
		commit:    d("warren_raft_commit_index", "The highest log index this node knows committed in the group.", "group"),
		applied:   d("warren_raft_applied_index", "The highest log index this node has applied in the group.", "group"),
		lastIndex: d("warren_raft_last_log_index", "The last index of the group's log on this node.", "group"),
		snapIndex: d("warren_raft_snapshot_index", "The last log index the group's newest snapshot on this node covers (0: none).", "group"),
		snapBytes: d("warren_raft_snapshot_size_bytes", "Size of the group's newest snapshot on this node (0: none).", "group"),
		peerLag: d("warren_raft_peer_lag_entries",
			"How many entries a server's log is behind the leader's last index, reported by the group's leader for every server of the group (asked at scrape time; absent when a server did not answer).",
			"group", "peer"),

		members: d("warren_cluster_members", "Members of the cluster as this node's gossip sees them, by state.", "state"),

		memAlarm:  d("warren_memory_alarm", "1 while publishes are refused because the Go heap is past --memory-high-watermark."),
		diskAlarm: d("warren_disk_alarm", "1 while publishes are refused because the data directory's free space is under --disk-free-low-watermark."),
		memHigh:   d("warren_memory_high_watermark_bytes", "The memory high watermark (0: off)."),
		diskLow:   d("warren_disk_free_low_watermark_bytes", "The disk free low watermark (0: off)."),
		heap:      d("warren_memory_heap_bytes", "The Go heap as the memory watermark last sampled it (0 while the watermark is off)."),
		diskFree:  d("warren_disk_free_bytes", "Free space of the data directory's file system, as last sampled (0 while the watermark is off)."),

		conns:          d("warren_client_connections", "Client connections open on the client port."),
		connsRefused:   d("warren_client_connections_refused_total", "Client connections closed on arrival for being past --max-connections."),
		sessions:       d("warren_sessions", "Client sessions (Session streams) open on this node."),
		consumeStreams: d("warren_consume_streams", "Consume streams open on this node, proxied ones included."),
	}
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.ready, c.build, c.isLeader, c.hasLeader, c.term, c.commit, c.applied, c.lastIndex, c.snapIndex, c.snapBytes,
		c.peerLag, c.members, c.memAlarm, c.diskAlarm, c.memHigh, c.diskLow, c.heap, c.diskFree,
		c.conns, c.connsRefused, c.sessions, c.consumeStreams,
	} {
		ch <- d
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	node := c.cfg.Broker.Node()
	v := version.Get()
	ch <- prometheus.MustNewConstMetric(c.build, gauge, 1, v.Version, v.Commit, v.GoVersion)
	ch <- prometheus.MustNewConstMetric(c.ready, gauge, bool01(node.Ready() == nil))

	leads := false
	for _, g := range node.LocalGroups() {
		ch <- prometheus.MustNewConstMetric(c.isLeader, gauge, bool01(g.IsLeader), g.Name)
		ch <- prometheus.MustNewConstMetric(c.hasLeader, gauge, bool01(g.LeaderID != ""), g.Name)
		ch <- prometheus.MustNewConstMetric(c.term, gauge, float64(g.Term), g.Name)
		ch <- prometheus.MustNewConstMetric(c.commit, gauge, float64(g.CommitIndex), g.Name)
		ch <- prometheus.MustNewConstMetric(c.applied, gauge, float64(g.AppliedIndex), g.Name)
		ch <- prometheus.MustNewConstMetric(c.lastIndex, gauge, float64(g.LastIndex), g.Name)
		ch <- prometheus.MustNewConstMetric(c.snapIndex, gauge, float64(g.Snapshot.Index), g.Name)
		ch <- prometheus.MustNewConstMetric(c.snapBytes, gauge, float64(g.Snapshot.Size), g.Name)
		leads = leads || g.IsLeader
	}
	if leads {
		// Only the leader reports its group's lag, so the cluster's series
		// do not repeat; the peers are asked once for every group.
		ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
		statuses := node.GroupStatuses(ctx)
		cancel()
		for _, g := range statuses {
			if g.LeaderID != node.NodeID() {
				continue
			}
			for _, p := range g.Peers {
				if p.Lag >= 0 {
					ch <- prometheus.MustNewConstMetric(c.peerLag, gauge, float64(p.Lag), g.Name, p.ID)
				}
			}
		}
	}

	byState := map[string]int{}
	for _, m := range node.Members() {
		byState[m.State]++
	}
	for _, s := range memberStates {
		ch <- prometheus.MustNewConstMetric(c.members, gauge, float64(byState[s]), s)
	}

	if c.cfg.Watermarks != nil {
		st := c.cfg.Watermarks.Status()
		ch <- prometheus.MustNewConstMetric(c.memAlarm, gauge, bool01(st.MemoryAlarm))
		ch <- prometheus.MustNewConstMetric(c.diskAlarm, gauge, bool01(st.DiskAlarm))
		ch <- prometheus.MustNewConstMetric(c.memHigh, gauge, float64(st.MemoryHigh))
		ch <- prometheus.MustNewConstMetric(c.diskLow, gauge, float64(st.DiskFreeLow))
		ch <- prometheus.MustNewConstMetric(c.heap, gauge, float64(st.HeapBytes))
		ch <- prometheus.MustNewConstMetric(c.diskFree, gauge, float64(st.DiskFreeBytes))
	}
	if c.cfg.Clients != nil {
		cl := c.cfg.Clients()
		ch <- prometheus.MustNewConstMetric(c.conns, gauge, float64(cl.Connections))
		ch <- prometheus.MustNewConstMetric(c.connsRefused, counter, float64(cl.ConnectionsRefused))
		ch <- prometheus.MustNewConstMetric(c.sessions, gauge, float64(cl.Sessions))
		ch <- prometheus.MustNewConstMetric(c.consumeStreams, gauge, float64(cl.ConsumeStreams))
	}
}
