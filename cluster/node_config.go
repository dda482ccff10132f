package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config is the host-level configuration of a node.
type Config struct {
	// NodeID names the node in every Raft group; stable across restarts.
	NodeID string
	// DataDir holds groups/<group>/ for every Raft group.
	DataDir string
	// RaftAddr is the TCP address of the Raft port shared by all groups.
	RaftAddr string
	// QueueGroups is the number of queue Raft groups (K).
	QueueGroups int
	// Group holds per-group Raft timings.
	Group GroupConfig
	// SessionGrace is how long a new leader waits for sessions to re-attach
	// before it returns their unacked deliveries. Until clients can
	// re-attach (the cluster issue), the default is 0: consumers of a
	// session that cannot come back would only keep taking assignments.
	SessionGrace time.Duration
	// DefaultGetLease bounds an unacked Get when the caller gives no lease.
	DefaultGetLease time.Duration
	// Logger receives the node's logs; nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns a single-node configuration with data in
// ./warren-data and Raft on 127.0.0.1:5681.
func DefaultConfig() Config {
	return Config{
		NodeID:          "node1",
		DataDir:         "warren-data",
		RaftAddr:        "127.0.0.1:5681",
		QueueGroups:     4,
		Group:           DefaultGroupConfig(),
		SessionGrace:    0,
		DefaultGetLease: 5 * time.Minute,
	}
}

// MaxQueueGroups bounds K: every group costs heartbeats, goroutines and a
// bolt file.
const MaxQueueGroups = 64

// Validate checks ranges and relations of the fields.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.RaftAddr == "" {
		errs = append(errs, errors.New("raft address is empty"))
	}
	if c.QueueGroups < 1 || c.QueueGroups > MaxQueueGroups {
		errs = append(errs, fmt.Errorf("queue groups must be 1..%d, not %d", MaxQueueGroups, c.QueueGroups))
	}
	if c.SessionGrace < 0 {
		errs = append(errs, errors.New("session grace is negative"))
	}
	if c.DefaultGetLease <= 0 {
		errs = append(errs, errors.New("default get lease must be positive"))
	}
	if err := c.Group.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
