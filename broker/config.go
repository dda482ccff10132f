package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/warrenmq/warren/cluster"
)

// Config is the configuration of a Warren node's broker and, in Cluster,
// of its place in the cluster.
type Config struct {
	Cluster cluster.Config
	// QueueGroups is the number of queue Raft groups (K).
	QueueGroups int
	// SessionGrace is how long a new leader (or a restarted node) waits
	// for sessions to re-attach before it returns the unacked deliveries
	// of sessions no node serves. A consumer that re-attaches in time
	// keeps its deliveries and can still ack them. Meanwhile an absent
	// consumer can still be assigned up to its prefetch, which then waits
	// out the grace; so keep it short. Default 5 s; 0 returns at once.
	SessionGrace time.Duration
	// DefaultGetLease bounds an unacked Get when the caller gives no lease.
	DefaultGetLease time.Duration
	// ConsumerTimeout is the node's consumer timeout (RabbitMQ's
	// consumer_timeout, 30 min): a delivery unacked this long ends its
	// consumer's stream and returns its deliveries, unless the queue
	// (x-consumer-timeout) or the consumer sets its own. 0: none.
	ConsumerTimeout time.Duration
	// Bootstrap is the first user of a fresh cluster, an administrator
	// with every permission in the default virtual host; empty means
	// guest/guest (whom access lets in from loopback only).
	Bootstrap BootstrapUser
	// BodyStore is where the queue groups keep message bodies: in their
	// state (BodiesInMemory), or on disk, in each group's body store
	// (BodiesOnDisk, DefaultConfig's), the state keeping a reference per
	// message. "" is BodiesInMemory.
	BodyStore BodyStore
	// BodySegmentBytes is the size of the body store's segment files
	// (0: bodystore.DefaultSegmentBytes), the granule of reclaimed space.
	BodySegmentBytes int64
	// BodySnapshotBytes: with bodies on disk, a queue group takes a
	// snapshot once this many bytes of bodies were applied since its last
	// one (0: DefaultBodySnapshotBytes, 64 MiB), so that what a restart
	// re-applies, which Raft reads into memory at once, stays bounded, and
	// the space of consumed messages comes back (at snapshots).
	BodySnapshotBytes int64
}

// BodyStore says where a node's queue groups keep message bodies.
type BodyStore string

// Body stores.
const (
	BodiesInMemory BodyStore = "memory"
	BodiesOnDisk   BodyStore = "disk"
)

// DefaultConfig returns a single-node configuration with data in
// ./warren-data, Raft on 127.0.0.1:5681 and gossip on 127.0.0.1:5682.
func DefaultConfig() Config {
	return Config{
		Cluster:         cluster.DefaultConfig(),
		QueueGroups:     4,
		SessionGrace:    5 * time.Second,
		DefaultGetLease: 5 * time.Minute,
		ConsumerTimeout: 30 * time.Minute,
		BodyStore:       BodiesOnDisk,
	}
}

// MaxQueueGroups bounds K: every group costs heartbeats, goroutines and a
// bolt file.
const MaxQueueGroups = 64

// Validate checks every field, the cluster's included, and returns every
// problem found, joined.
func (c Config) Validate() error {
	var errs []error
	if c.QueueGroups < 1 || c.QueueGroups > MaxQueueGroups {
		errs = append(errs, fmt.Errorf("queue groups must be 1..%d, not %d", MaxQueueGroups, c.QueueGroups))
	}
	if c.SessionGrace < 0 {
		errs = append(errs, errors.New("session grace is negative"))
	}
	if c.DefaultGetLease <= 0 {
		errs = append(errs, errors.New("default get lease must be positive"))
	}
	if c.ConsumerTimeout < 0 {
		errs = append(errs, errors.New("consumer timeout is negative"))
	}
	if c.BodyStore != "" && c.BodyStore != BodiesInMemory && c.BodyStore != BodiesOnDisk {
		errs = append(errs, fmt.Errorf("body store must be %q or %q, not %q", BodiesInMemory, BodiesOnDisk, c.BodyStore))
	}
	if c.BodySegmentBytes < 0 || c.BodySegmentBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("body segment size must be 0 (the default) to 1 GiB, not %d", c.BodySegmentBytes))
	}
	if c.BodySnapshotBytes < 0 || c.BodySnapshotBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("body bytes between snapshots must be 0 (the default) to 1 GiB, not %d", c.BodySnapshotBytes))
	}
	if (c.Bootstrap.Name == "") != (c.Bootstrap.Password == "") {
		errs = append(errs, errors.New("a bootstrap user needs both a name and a password"))
	}
	if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
