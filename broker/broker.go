package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
)

// metaGroupName is the meta group's id on the Raft mux and on disk.
const metaGroupName = "meta"

// queueGroupName is queue group i's id on the Raft mux and on disk.
func queueGroupName(i int) string { return "q" + strconv.Itoa(i) }

// Broker is what a Warren node serves: exchanges, queues and bindings in
// the meta group, messages in the queue groups, and the work that runs on
// them — routing and group commit of publishes, consumers and gets,
// declarations, sessions, dead letters, auto-delete, the leader loops, and
// forwarding to the leaders of groups this node does not lead. Its methods
// are safe for concurrent use.
type Broker struct {
	cfg    Config
	logger hclog.Logger
	node   *cluster.Node

	meta    *raftgroup.Group
	metaFSM *stateMachine[*fsm.Meta]
	// metaGate opens once every meta voter applies featuresVersion:
	// declarations then carry args_level 1.
	metaGate *versionGate
	// expiring holds the ids of queues whose x-expires deletion runs.
	expiring sync.Map
	queues   []*queueGroup
	// opened closes once Start has the groups from the cluster: Raft may
	// report leadership before that.
	opened chan struct{}

	leaders leaderBoard

	sessions       *sessionRegistry
	sessionStreams sessionStreams
	reaper         *sessionReaper

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start opens the node's groups and joins or forms its cluster (see
// cluster.Start); it does not wait for the groups to have leaders:
// WaitReady does.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	logger := cfg.Cluster.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		cfg: cfg, logger: logger, opened: make(chan struct{}),
		sessions: newSessionRegistry(), reaper: newSessionReaper(), ctx: ctx, cancel: cancel,
	}
	b.metaFSM = newMetaStateMachine(cfg.QueueGroups, b.refused(metaGroupName))
	metaSpec := cluster.GroupSpec{Name: metaGroupName, FSM: b.metaFSM, OnLeadership: b.onMetaLeadership}
	specs := make([]cluster.GroupSpec, cfg.QueueGroups)
	for i := range specs {
		q, err := newQueueGroup(b, i)
		if err != nil {
			b.closeBodies()
			cancel()
			return nil, err
		}
		b.queues = append(b.queues, q)
		specs[i] = cluster.GroupSpec{Name: q.name, FSM: q.fsm, OnLeadership: q.onLeadership, LeaderReady: q.ready}
	}
	node, err := cluster.Start(cfg.Cluster, metaSpec, specs)
	if err != nil {
		b.closeBodies()
		cancel()
		b.wg.Wait()
		return nil, err
	}
	b.node = node
	b.meta = node.Group(metaGroupName)
	b.metaGate = &versionGate{node: node, group: b.meta, version: featuresVersion}
	for _, q := range b.queues {
		q.open(node.Group(q.name))
	}
	b.wg.Add(1)
	go b.reapSessions()
	b.watchLeaders()
	close(b.opened)
	return b, nil
}

// refused logs a log entry of group that was no command of it, which every
// replica applied as an error result.
func (b *Broker) refused(group string) func(uint64, error) {
	return func(index uint64, err error) {
		b.logger.Warn("log entry is no command of this group; applied as an error", "group", group, "index", index, "error", err)
	}
}

// Node is the node's place in the cluster: membership, status, leave and
// removal.
func (b *Broker) Node() *cluster.Node { return b.node }

// WaitReady blocks until every group has a known leader and this node's
// state is current, or ctx ends (cluster.Node.WaitReady).
func (b *Broker) WaitReady(ctx context.Context) error { return b.node.WaitReady(ctx) }

// Drain ends every consume stream this node serves, with
// cluster.ErrShuttingDown (UNAVAILABLE to clients), and refuses new ones,
// so that a graceful stop of the gRPC server does not wait on streams that
// never end by themselves. Publishes and other calls keep working until
// Close.
func (b *Broker) Drain() {
	for _, q := range b.queues {
		if d := q.disp.Load(); d != nil {
			d.Stop(cluster.ErrShuttingDown)
		}
	}
}

// Close stops the leader work and the group commit of every queue group,
// then the node (cluster.Node.Close). Unacked deliveries stay in the log;
// they return to their queues when the node starts again.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.cancel()
		for i := len(b.queues) - 1; i >= 0; i-- {
			b.queues[i].close()
		}
		err = b.node.Close()
		b.wg.Wait()
		if cerr := b.closeBodies(); err == nil {
			err = cerr
		}
	})
	return err
}

// closeBodies closes the queue groups' body stores.
func (b *Broker) closeBodies() error {
	var errs []error
	for _, q := range b.queues {
		errs = append(errs, q.closeBodies())
	}
	return errors.Join(errs...)
}

// queueGroup returns queue group i.
func (b *Broker) queueGroup(i uint32) (*queueGroup, error) {
	if int(i) >= len(b.queues) {
		return nil, fmt.Errorf("%w: queue group %d does not exist on this node", fsm.ErrNotFound, i)
	}
	return b.queues[i], nil
}

// groupNamed returns the group named name, or an fsm.ErrNotFound error.
func (b *Broker) groupNamed(name string) (*raftgroup.Group, error) {
	if g := b.node.Group(name); g != nil {
		return g, nil
	}
	return nil, fmt.Errorf("%w: no group %q on this node", fsm.ErrNotFound, name)
}

// readMeta runs fn on the local meta state under its read lock.
func (b *Broker) readMeta(fn func(m *fsm.Meta)) { b.metaFSM.read(fn) }

// LeaderElsewhere reports whether err says that another node leads the
// group a call needed, and which group.
func LeaderElsewhere(err error) (group string, ok bool) {
	var nle *raftgroup.NotLeaderError
	if !errors.As(err, &nle) {
		return "", false
	}
	return nle.Group, true
}
