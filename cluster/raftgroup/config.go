package raftgroup

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the Raft tuning of one group (STYLE §4). The same
// values are normally used for every group of a node. All durations are
// wall-clock time.
type Config struct {
	// HeartbeatTimeout is how long a follower goes without contact from the
	// leader before it starts an election. The leader heartbeats at a tenth
	// of it.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before it
	// starts a new election. Raft randomises both timeouts into [t, 2t).
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest a follower waits to learn a new commit
	// index when there is nothing else to send (it bounds follower apply
	// latency, not leader commit latency).
	CommitTimeout time.Duration

	// SnapshotInterval is how often Raft checks whether to snapshot; Raft
	// jitters each check, which staggers the K groups (STYLE §11.8).
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many entries past the last snapshot trigger
	// a new one.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries are kept after a snapshot so a
	// lagging follower can catch up from the log instead of a snapshot.
	// Size it as write rate × (snapshot transfer + restore time) × 2
	// (STYLE §11.7, hashicorp/consul#9609).
	TrailingLogs uint64

	// MaxAppendEntries is the most entries sent in one AppendEntries RPC
	// and written in one disk batch (1..1024).
	MaxAppendEntries int
	// BatchApplyCh buffers the apply channel to MaxAppendEntries, giving
	// larger batches; it makes Raft ignore Apply's enqueue timeout
	// (hashicorp/raft#445), and entries still buffered when Raft shuts
	// down are never resolved (Propose then returns ErrGroupClosed, but
	// a goroutine per such entry stays blocked). Off by default; measure
	// before enabling.
	BatchApplyCh bool
}

// DefaultConfig returns LAN defaults: hashicorp/raft's defaults with a
// larger MaxAppendEntries, because Warren's throughput comes from many
// concurrent proposals that Raft writes in one batch (hashicorp/raft#578).
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		MaxAppendEntries:   512,
	}
}

// Bounds of Scaled's multiplier: below 0.2 the heartbeat timeout (200 ms)
// is within the stalls of a loaded machine, and above 10 a dead leader
// goes unnoticed for 10–20 s.
const (
	MinTimingMultiplier = 0.2
	MaxTimingMultiplier = 10
)

// Scaled returns c with its heartbeat, election and leader-lease timeouts
// multiplied by m (Consul's and Nomad's raft_multiplier, over the same
// base of 1 s, 1 s and 500 ms): lower detects a silent leader sooner and
// risks elections under load, higher the reverse. A leader whose process
// died is replaced at once whatever m is (leader_watch.go). The commit
// timeout and the snapshot settings are not timings of failure detection
// and stay. m must be within [MinTimingMultiplier, MaxTimingMultiplier].
func (c Config) Scaled(m float64) Config {
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * m).Round(time.Millisecond) }
	c.HeartbeatTimeout = scale(c.HeartbeatTimeout)
	c.ElectionTimeout = scale(c.ElectionTimeout)
	c.LeaderLeaseTimeout = scale(c.LeaderLeaseTimeout)
	return c
}

// FastConfig returns timings for tests on loopback: elections take a
// fraction of a second. raft's own tests use 50 ms, which flaps under
// -race on a 2-core machine; with these values a leader keeps its lease
// through the ~100 ms stalls seen there. On a loaded machine stalls grow
// to seconds, so tests must still tolerate leader changes (retry on
// *NotLeaderError and, with an idempotent FSM, on ErrOutcomeUnknown), and
// harnesses may multiply the timings by WARREN_TEST_TIMEOUT_SCALE.
func FastConfig() Config {
	c := DefaultConfig()
	c.HeartbeatTimeout = 250 * time.Millisecond
	c.ElectionTimeout = 250 * time.Millisecond
	c.LeaderLeaseTimeout = 200 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	return c
}

// Limits enforced by Validate. The lower bounds are hashicorp/raft's own
// (ValidateConfig); the upper bounds catch unit mistakes such as seconds
// given as minutes.
const (
	minRaftTimeout     = 5 * time.Millisecond
	maxRaftTimeout     = time.Minute
	maxAppendEntriesHi = 1024
)

// Validate checks each field's range and the relations between fields:
// LeaderLeaseTimeout ≤ HeartbeatTimeout ≤ ElectionTimeout, CommitTimeout ≤
// HeartbeatTimeout, SnapshotThreshold < TrailingLogs (so after a snapshot
// the log still reaches back past the previous one, and a follower that was
// current then catches up from the log, not by a snapshot install), and
// MaxAppendEntries in 1..1024. It returns every problem found, joined.
func (c Config) Validate() error {
	var errs []error
	inRange := func(name string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			errs = append(errs, fmt.Errorf("%s %v out of range [%v, %v]", name, d, lo, hi))
		}
	}
	inRange("heartbeat timeout", c.HeartbeatTimeout, minRaftTimeout, maxRaftTimeout)
	inRange("election timeout", c.ElectionTimeout, minRaftTimeout, maxRaftTimeout)
	inRange("leader lease timeout", c.LeaderLeaseTimeout, minRaftTimeout, maxRaftTimeout)
	inRange("commit timeout", c.CommitTimeout, time.Millisecond, maxRaftTimeout)
	inRange("snapshot interval", c.SnapshotInterval, minRaftTimeout, 24*time.Hour)

	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("leader lease timeout %v exceeds heartbeat timeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout))
	}
	if c.HeartbeatTimeout > c.ElectionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat timeout %v exceeds election timeout %v", c.HeartbeatTimeout, c.ElectionTimeout))
	}
	if c.CommitTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("commit timeout %v exceeds heartbeat timeout %v", c.CommitTimeout, c.HeartbeatTimeout))
	}

	if c.SnapshotThreshold == 0 {
		errs = append(errs, errors.New("snapshot threshold is zero"))
	}
	if c.SnapshotThreshold >= c.TrailingLogs {
		errs = append(errs, fmt.Errorf("snapshot threshold %d must be below trailing logs %d", c.SnapshotThreshold, c.TrailingLogs))
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > maxAppendEntriesHi {
		errs = append(errs, fmt.Errorf("max append entries %d out of range [1, %d]", c.MaxAppendEntries, maxAppendEntriesHi))
	}
	return errors.Join(errs...)
}
