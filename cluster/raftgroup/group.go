package raftgroup

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// MaxEntrySize is the largest command Propose accepts, in bytes: half of
// raft.SuggestedMaxDataSize, so that a batch of entries never delays
// heartbeats long enough to trigger elections (STYLE §2, §11.6). Larger
// commands must be split by the caller.
const MaxEntrySize = raft.SuggestedMaxDataSize / 2

// Transport settings shared by every group (STYLE §5).
const (
	// transportMaxPool is the number of idle connections kept per peer.
	transportMaxPool = 2
	// transportTimeout bounds each RPC's I/O; InstallSnapshot scales it
	// with the snapshot size.
	transportTimeout = 10 * time.Second
	// transportRPCsInFlight is 1: replication without hashicorp/raft's
	// pipeline, each AppendEntries answered before the next is sent. Its
	// pipeline (v1.7.3, at the default of 2 in flight) can deadlock: when
	// a follower answers Success=false the decoder stops reading, and a
	// send that wins the race parks on the in-flight channel for good.
	// The leader then never sends that follower another entry while its
	// heartbeats go on (so no election heals it), and Shutdown waits for
	// the parked send forever: an e2e test's cluster hung in its cleanup
	// for 11 minutes so (hashicorp/raft#612, grafana/pyroscope#5518).
	// hashicorp/raft#541 found the pipeline of little use with batching.
	transportRPCsInFlight = 1
	// notifyChBuffer holds leadership changes while OnLeadership runs;
	// Raft blocks on a full NotifyCh (STYLE §11.10 asks for ≥ 8).
	notifyChBuffer = 16
)

// Group is one Raft group of a node: its stores under
// <DataDir>/groups/<name>/, its transport over a Mux layer, its
// raft.Raft, and a goroutine that reports leadership changes.
//
// All methods are safe for concurrent use. After Shutdown, methods that
// need Raft return errors wrapping ErrGroupClosed; the accessors keep
// working on the last known state.
type Group struct {
	name   string
	logger hclog.Logger
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	layer  raft.StreamLayer
	stores *groupStores
	fsm    *appliedFSM

	notifyCh     chan bool
	onLeadership func(bool)
	stopMonitor  chan struct{}
	monitorDone  chan struct{}
	stopped      chan struct{} // closed once Raft's goroutines have exited

	// The leader watch (leader_watch.go).
	nodeID              string
	cfg                 Config
	leaderCheck         chan struct{} // an accepted connection ended
	stopWatch           chan struct{}
	watchers            sync.WaitGroup // watchLeader, watchObservations
	deadLeaderElections atomic.Uint64
	leaderProbesAlive   atomic.Uint64         // probes that found the leader up (tests)
	noLeaderSince       atomic.Int64          // Unix ns since no leader was known; 0 while one is
	observations        chan raft.Observation // leader changes
	observer            *raft.Observer
	leaderMu            sync.Mutex
	leaderChanged       chan struct{} // closed and replaced at each leader change

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open opens (creating if needed) the group's stores, starts its
// transport and Raft, and bootstraps it if o.Bootstrap is set and there is
// no state on disk. A restart restores the newest snapshot into o.FSM
// before returning and replays the rest of the log once the group knows
// its commit index. On error everything opened is closed again, including
// o.Layer.
func Open(o Options) (_ *Group, err error) {
	if o.Layer != nil {
		defer func() {
			if err != nil {
				o.Layer.Close()
			}
		}()
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("raft group %q: %w", o.Name, err)
	}
	wrapped, applied, err := wrapFSM(o.FSM)
	if err != nil {
		return nil, fmt.Errorf("raft group %s: %w", o.Name, err)
	}
	parent := o.Logger
	if parent == nil {
		parent = hclog.NewNullLogger()
	}
	logger := parent.ResetNamed("warren.raft."+o.Name).With("group", o.Name, "node", o.NodeID)

	stores, err := openStores(Dir(o.DataDir, o.Name), o.LogStore, o.NoSync, o.UnsafeUnsyncedLog, logger)
	if err != nil {
		return nil, fmt.Errorf("raft group %s: %w", o.Name, err)
	}
	defer func() {
		if err != nil {
			stores.close()
		}
	}()

	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:                  o.Layer,
		MaxPool:                 transportMaxPool,
		Timeout:                 transportTimeout,
		MaxRPCsInFlight:         transportRPCsInFlight,
		Logger:                  logger.Named("net"),
		MsgpackUseNewTimeFormat: true,
	})
	defer func() {
		if err != nil {
			trans.Close()
		}
	}()

	notifyCh := make(chan bool, notifyChBuffer)
	conf := raftConfig(o, logger, notifyCh)
	if err := raft.ValidateConfig(conf); err != nil {
		return nil, fmt.Errorf("raft group %s: %w", o.Name, err)
	}
	if o.Bootstrap {
		if err := bootstrap(o, conf, stores, trans, logger); err != nil {
			return nil, fmt.Errorf("raft group %s: %w", o.Name, err)
		}
	}
	snaps := stores.snaps
	var completing *completingSnapshots
	if c, ok := o.FSM.(SnapshotCompleter); ok {
		completing = &completingSnapshots{SnapshotStore: snaps, completer: c}
		completing.starting.Store(true)
		snaps = completing
	}
	r, err := raft.NewRaft(conf, wrapped, stores.logs, stores.stable(), snaps, trans)
	if completing != nil {
		completing.starting.Store(false)
	}
	if err != nil {
		return nil, fmt.Errorf("raft group %s: start raft: %w", o.Name, err)
	}
	g := &Group{
		name:          o.Name,
		logger:        logger,
		raft:          r,
		trans:         trans,
		layer:         o.Layer,
		stores:        stores,
		fsm:           applied,
		notifyCh:      notifyCh,
		onLeadership:  o.OnLeadership,
		stopMonitor:   make(chan struct{}),
		monitorDone:   make(chan struct{}),
		stopped:       make(chan struct{}),
		nodeID:        o.NodeID,
		cfg:           o.Config,
		leaderCheck:   make(chan struct{}, 1),
		stopWatch:     make(chan struct{}),
		observations:  make(chan raft.Observation, 16),
		leaderChanged: make(chan struct{}),
	}
	// Not blocking: a full channel drops an observation, and the next
	// one closes leaderChanged all the same.
	g.observer = raft.NewObserver(g.observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(g.observer)
	go g.monitorLeadership()
	g.noLeaderSince.Store(time.Now().UnixNano())
	g.watchers.Add(2)
	go g.watchLeader()
	go g.watchObservations()
	if l, ok := o.Layer.(*muxLayer); ok {
		f := g.peerConnClosed
		l.peerClosed.Store(&f)
	}
	// STYLE §11.7: the pairing decides whether lagging followers can
	// catch up from the log, so it belongs in the start-up log.
	logger.Info("raft group started", "addr", trans.LocalAddr(), "heartbeat_timeout", o.Config.HeartbeatTimeout,
		"trailing_logs", o.Config.TrailingLogs, "snapshot_threshold", o.Config.SnapshotThreshold)
	return g, nil
}

// raftConfig builds the raft.Config of a group from hashicorp's defaults.
func raftConfig(o Options, logger hclog.Logger, notifyCh chan bool) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(o.NodeID)
	c.HeartbeatTimeout = o.Config.HeartbeatTimeout
	c.ElectionTimeout = o.Config.ElectionTimeout
	c.LeaderLeaseTimeout = o.Config.LeaderLeaseTimeout
	c.CommitTimeout = o.Config.CommitTimeout
	c.SnapshotInterval = o.Config.SnapshotInterval
	c.SnapshotThreshold = o.Config.SnapshotThreshold
	c.TrailingLogs = o.Config.TrailingLogs
	c.MaxAppendEntries = o.Config.MaxAppendEntries
	c.BatchApplyCh = o.Config.BatchApplyCh
	c.NotifyCh = notifyCh
	c.Logger = logger
	// Per-peer timings only as labels, not also as keys named after the
	// peer (hashicorp/raft's legacy telemetry).
	c.NoLegacyTelemetry = true
	c.NoSnapshotRestoreOnStart = false // restart = restore snapshot + replay
	// A node removed from the configuration stays a (silent) follower
	// instead of shutting Raft down by itself: Raft's self-shutdown can be
	// neither awaited nor followed by closing the transport, and the
	// owner of the Group decides when to call Shutdown.
	c.ShutdownOnRemove = false
	return c
}

// bootstrap writes the initial configuration when the group has no state.
// Checking HasExistingState first (rather than ignoring
// raft.ErrCantBootstrap) keeps a restarted node from ever rewriting its
// configuration.
func bootstrap(o Options, conf *raft.Config, stores *groupStores, trans raft.Transport, logger hclog.Logger) error {
	has, err := stores.hasState()
	if err != nil {
		return fmt.Errorf("check existing state: %w", err)
	}
	if has {
		return nil
	}
	servers := slices.Clone(o.BootstrapServers)
	if len(servers) == 0 {
		servers = []raft.Server{{Suffrage: raft.Voter, ID: conf.LocalID, Address: trans.LocalAddr()}}
	}
	if err := raft.BootstrapCluster(conf, stores.logs, stores.stable(), stores.snaps, trans,
		raft.Configuration{Servers: servers}); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	logger.Info("bootstrapped raft group", "servers", len(servers))
	return nil
}

// Name returns the group's name.
func (g *Group) Name() string { return g.name }

// Logger returns the group's logger (warren.raft.<name>), for the owner's
// messages about this group.
func (g *Group) Logger() hclog.Logger { return g.logger }

// IsLeader reports whether this node is the group's leader right now. It
// can be stale by the time it returns; Propose and Barrier check again.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// Leader returns the address and id of the leader this node knows of, or
// empty values when none is known.
func (g *Group) Leader() (addr raft.ServerAddress, id raft.ServerID) {
	return g.raft.LeaderWithID()
}

// AppliedIndex returns the index of the last log entry this node's FSM has
// finished applying, so a reader that waits for AppliedIndex() ≥ i sees
// the effects of entry i (for example an index returned by Propose on
// another node). Entries the FSM never sees (no-ops, barriers and, for an
// FSM that does not batch, configuration changes) do not advance it; 0
// when nothing was applied since start. After a snapshot restore it is
// the last command the restored state holds (CommandIndexer), or for an
// FSM that cannot tell, Raft's applied index until the next entry is
// applied. It never falls back to Raft's index otherwise: Raft advances
// that when it hands entries to the FSM goroutine, before they are
// applied (a follower's first listing after a queue group's first
// publish counted nothing that way).
func (g *Group) AppliedIndex() uint64 {
	if g.fsm.restoredUnknown.Load() {
		return g.raft.AppliedIndex()
	}
	return g.fsm.applied.Load()
}

// Stats returns raft.Raft.Stats (state, term, last_log_index,
// commit_index, applied_index, ...) plus "group" and
// "fsm_applied_index". go-metrics' raft metrics carry no group label, so
// per-group gauges must come from here (STYLE §5).
func (g *Group) Stats() map[string]string {
	s := g.raft.Stats()
	s["group"] = g.name
	s["fsm_applied_index"] = strconv.FormatUint(g.AppliedIndex(), 10)
	return s
}

// Shutdown stops Raft, closes the transport, the layer and its
// connections, reports a final OnLeadership(false) if this node was
// leader, and closes the stores. Pending proposals fail with
// ErrOutcomeUnknown or ErrGroupClosed. It is idempotent: concurrent and
// later calls wait for the first and return its result.
func (g *Group) Shutdown() error {
	g.shutdownOnce.Do(func() {
		var errs []error
		// The leader watch first: it may be about to send Raft an RPC.
		close(g.stopWatch)
		g.watchers.Wait()
		g.raft.DeregisterObserver(g.observer)
		// Raft's shutdown future waits for Raft's goroutines and then
		// closes the transport, which closes the layer.
		if err := g.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		close(g.stopped)
		// Raft closed the transport already; closing again is a no-op
		// that keeps this step explicit. NetworkTransport.Close leaves
		// pooled outbound connections open; CloseStreams closes them.
		g.trans.Close()
		g.trans.CloseStreams()
		if err := g.layer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close layer: %w", err))
		}
		close(g.stopMonitor)
		<-g.monitorDone
		if err := g.stores.close(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			g.shutdownErr = fmt.Errorf("raft group %s: %w", g.name, errors.Join(errs...))
		}
		g.logger.Info("raft group stopped")
	})
	return g.shutdownErr
}

// monitorLeadership turns Raft's NotifyCh into ordered OnLeadership calls.
// NotifyCh rather than LeaderCh, because LeaderCh drops intermediate
// transitions (STYLE §11.10).
func (g *Group) monitorLeadership() {
	defer close(g.monitorDone)
	leader := false
	report := func(isLeader bool) {
		if isLeader {
			g.logger.Info("became leader")
		} else {
			g.logger.Info("lost leadership")
		}
		if g.onLeadership != nil {
			g.onLeadership(isLeader)
		}
	}
	observe := func(isLeader bool) {
		switch {
		case isLeader && leader:
			// Lost and regained between two reads: the leader work
			// from the old term must stop before the new one starts
			// (Nomad's monitorLeadership does the same).
			report(false)
			report(true)
		case isLeader != leader:
			report(isLeader)
		}
		leader = isLeader
	}
	for {
		select {
		case v := <-g.notifyCh:
			observe(v)
		case <-g.stopMonitor:
			// Raft has stopped; its last notification, if any, is
			// buffered. Drain, then make sure a leader hears false.
			for {
				select {
				case v := <-g.notifyCh:
					observe(v)
				default:
					if leader {
						report(false)
					}
					return
				}
			}
		}
	}
}
