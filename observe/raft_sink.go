package observe

import (
	"strings"
	"sync"

	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// hashicorp/raft and raft-boltdb measure their own work (commit time, FSM
// apply, bolt writes with their fsync, snapshots) and report it through
// go-metrics' process-wide sink, by the compat package's build tag armon's
// or hashicorp's. Rather than measuring again, this package installs a
// go-metrics sink that files the keys below into Prometheus histograms and
// counters with Prometheus names and units (seconds, not go-metrics'
// milliseconds), and drops every other key (go-metrics' allow-list stops
// them before they reach the sink). DESIGN.md says why not go-metrics'
// own Prometheus sink.
//
// go-metrics keys carry no group label (one *raft.Raft per group, one
// process-wide sink): these series are the node's groups together.
// Per-group gauges come from raft.Stats() (nodeCollector).

// latencyBuckets span a fast fsync (0.5 ms) to an election's worth of
// waiting (10 s).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// snapshotBuckets span a small group's snapshot to a backlog of gigabytes.
var snapshotBuckets = []float64{.001, .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120}

// raftKeys maps go-metrics keys (joined with ".") to their series.
type raftKey struct {
	name, help string
	buckets    []float64 // a histogram of seconds; nil: a counter
}

const storeLogsHelp = "Time to write a batch of entries to a group's Raft log store and fsync it, on leaders and followers (raft-boltdb's raft.boltdb.storeLogs, or the segment store's raft.segmentlog.storeLogs), all groups together."

var raftKeys = map[string]raftKey{
	"raft.commitTime": {name: "warren_raft_commit_duration_seconds", buckets: latencyBuckets,
		help: "Time from a leader appending an entry to its commit: the leader's write and fsync, and a quorum of followers' (hashicorp/raft's raft.commitTime), all groups this node leads together."},
	"raft.fsm.apply": {name: "warren_raft_fsm_apply_duration_seconds", buckets: latencyBuckets,
		help: "Time to apply one committed entry to a group's state machine (raft.fsm.apply), all groups together."},
	"raft.boltdb.storeLogs": {name: "warren_raft_store_logs_duration_seconds", buckets: latencyBuckets,
		help: storeLogsHelp},
	// The same series for the segment log store (cluster/raftgroup times
	// it): a node runs one store or the other per group.
	"raft.segmentlog.storeLogs": {name: "warren_raft_store_logs_duration_seconds", buckets: latencyBuckets,
		help: storeLogsHelp},
	"raft.snapshot.takeSnapshot": {name: "warren_raft_snapshot_duration_seconds", buckets: snapshotBuckets,
		help: "Time to take a snapshot of a group's state and write it to disk (raft.snapshot.takeSnapshot), all groups together."},
	"raft.fsm.restore": {name: "warren_raft_snapshot_restore_duration_seconds", buckets: snapshotBuckets,
		help: "Time to restore a group's state from a snapshot (raft.fsm.restore), all groups together."},
	"raft.state.candidate": {name: "warren_raft_elections_started_total",
		help: "Elections this node started, in any group (raft.state.candidate)."},
	"raft.state.leader": {name: "warren_raft_leaderships_won_total",
		help: "Times this node became the leader of a group (raft.state.leader)."},
	"raft.transition.heartbeat_timeout": {name: "warren_raft_heartbeat_timeouts_total",
		help: "Times a follower heard from no leader within the heartbeat timeout, in any group (raft.transition.heartbeat_timeout)."},
}

var (
	sinkOnce sync.Once
	sink     *goMetricsSink
)

// raftSink returns the process's go-metrics sink as a Prometheus
// collector, installing it as go-metrics' global sink the first time.
func raftSink() *goMetricsSink {
	sinkOnce.Do(func() {
		sink = newGoMetricsSink()
		conf := metrics.DefaultConfig("")
		conf.EnableHostname = false
		conf.EnableRuntimeMetrics = false // the Go collector has them
		conf.FilterDefault = false
		for k := range raftKeys {
			conf.AllowedPrefixes = append(conf.AllowedPrefixes, k)
		}
		// NewGlobal fails only for a bad sink URL; there is none.
		_, _ = metrics.NewGlobal(conf, sink)
	})
	return sink
}

// goMetricsSink is a go-metrics MetricSink over the series of raftKeys;
// it is a prometheus.Collector of them.
type goMetricsSink struct {
	histograms map[string]prometheus.Histogram
	counters   map[string]prometheus.Counter
	// series are the distinct histograms of histograms: several keys may
	// feed one series, which must be described and collected once.
	series []prometheus.Histogram
}

func newGoMetricsSink() *goMetricsSink {
	s := &goMetricsSink{histograms: map[string]prometheus.Histogram{}, counters: map[string]prometheus.Counter{}}
	byName := map[string]prometheus.Histogram{}
	for k, spec := range raftKeys {
		if spec.buckets != nil {
			h := byName[spec.name]
			if h == nil {
				h = prometheus.NewHistogram(prometheus.HistogramOpts{Name: spec.name, Help: spec.help, Buckets: spec.buckets})
				byName[spec.name] = h
				s.series = append(s.series, h)
			}
			s.histograms[k] = h
		} else {
			s.counters[k] = prometheus.NewCounter(prometheus.CounterOpts{Name: spec.name, Help: spec.help})
		}
	}
	return s
}

// Describe implements prometheus.Collector.
func (s *goMetricsSink) Describe(ch chan<- *prometheus.Desc) {
	for _, h := range s.series {
		h.Describe(ch)
	}
	for _, c := range s.counters {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *goMetricsSink) Collect(ch chan<- prometheus.Metric) {
	for _, h := range s.series {
		h.Collect(ch)
	}
	for _, c := range s.counters {
		c.Collect(ch)
	}
}

// AddSample files a timing (go-metrics: milliseconds).
func (s *goMetricsSink) AddSample(key []string, val float32) {
	if h := s.histograms[strings.Join(key, ".")]; h != nil {
		h.Observe(float64(val) / 1000)
	}
}

// AddSampleWithLabels is AddSample; raft's labelled samples (per peer)
// are not among raftKeys.
func (s *goMetricsSink) AddSampleWithLabels(key []string, val float32, _ []metrics.Label) {
	s.AddSample(key, val)
}

// IncrCounter counts.
func (s *goMetricsSink) IncrCounter(key []string, val float32) {
	if c := s.counters[strings.Join(key, ".")]; c != nil && val > 0 {
		c.Add(float64(val))
	}
}

// IncrCounterWithLabels is IncrCounter.
func (s *goMetricsSink) IncrCounterWithLabels(key []string, val float32, _ []metrics.Label) {
	s.IncrCounter(key, val)
}

// SetGauge drops the value: no gauge of go-metrics is exported (per-group
// gauges come from raft.Stats()).
func (s *goMetricsSink) SetGauge([]string, float32) {}

// SetGaugeWithLabels drops the value.
func (s *goMetricsSink) SetGaugeWithLabels([]string, float32, []metrics.Label) {}

// EmitKey drops the value.
func (s *goMetricsSink) EmitKey([]string, float32) {}
