package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// tickEvery is how often a leader checks whether leases or TTLs are due.
const tickEvery = 250 * time.Millisecond

// queueGroup is one queue Raft group on this node, with its group-commit
// loop and, while this node leads it, its dispatcher.
type queueGroup struct {
	b     *Broker
	idx   int
	name  string
	group *raftgroup.Group
	fsm   *stateMachine[*fsm.QueueGroup]
	// bodies is the group's body store with --body-store disk; nil when
	// the state keeps the bodies.
	bodies *bodyKeeper
	commit *committer
	logger hclog.Logger
	// disp is the group's dispatcher while this node leads the group;
	// dispChanged fires when it is set or cleared.
	disp        atomic.Pointer[dispatch.Dispatcher]
	dispChanged broadcast
	// counters count message events while this node leads the group.
	counters groupCounters
	// features opens once every server of the group applies
	// featuresVersion: Checkouts then carry priority and timeout.
	features *versionGate
	// dedupFlags opens once every server of the group applies
	// dedupFlagsVersion: Enqueues then carry Payload.redelivered and
	// DelayMessages their producers' sequences.
	dedupFlags *versionGate

	mu           sync.Mutex
	leaderCancel context.CancelFunc
	leaderDone   chan struct{}
	// ready closes the first time this node serves as the group's leader.
	ready     chan struct{}
	readyOnce sync.Once
	// outbox publishes at-least-once dead letters while this node leads.
	outbox outboxState
}

func newQueueGroup(b *Broker, i int) (*queueGroup, error) {
	name := queueGroupName(i)
	q := &queueGroup{b: b, idx: i, name: name, logger: b.logger.Named("dispatch."+name).With("group", name), ready: make(chan struct{})}
	q.outbox.kick = make(chan struct{}, 1)
	q.outbox.delayKick = make(chan struct{}, 1)
	if b.cfg.BodyStore == BodiesOnDisk {
		dir := filepath.Join(raftgroup.Dir(b.cfg.Cluster.DataDir, name), "bodies")
		store, err := bodystore.Open(dir, bodystore.Options{SegmentBytes: b.cfg.BodySegmentBytes})
		if err != nil {
			return nil, err
		}
		q.bodies = newBodyKeeper(store, b.cfg.BodySnapshotBytes, b.logger.Named("bodies").With("group", name))
	}
	q.fsm = newQueueStateMachine(b.refused(name), q.bodies)
	q.fsm.applied = q.applied
	return q, nil
}

// fill returns p with its body (bodyKeeper.fill), for a payload about to
// leave the node: p itself when the state keeps bodies.
func (q *queueGroup) fill(p *fsmpb.Payload) (*fsmpb.Payload, error) {
	if q.bodies == nil || p == nil {
		return p, nil
	}
	return q.bodies.fill(p)
}

// fillMany is fill for many payloads, whose bodies it reads together.
func (q *queueGroup) fillMany(ps []*fsmpb.Payload) ([]*fsmpb.Payload, error) {
	if q.bodies == nil {
		return ps, nil
	}
	return q.bodies.fillMany(ps)
}

// closeBodies closes the body store, once the group's Raft is shut down.
func (q *queueGroup) closeBodies() error {
	if q.bodies == nil {
		return nil
	}
	return q.bodies.store.Close()
}

// open takes the group the node opened for it and starts group commit.
func (q *queueGroup) open(g *raftgroup.Group) {
	q.group = g
	q.features = &versionGate{node: q.b.node, group: g, version: featuresVersion}
	q.dedupFlags = &versionGate{node: q.b.node, group: g, version: dedupFlagsVersion}
	q.commit = newCommitter(g, newSizeRuleGate(q.b.node, g).rule, q.dedupFlags.ok)
	if q.bodies != nil {
		q.b.wg.Add(1)
		go func() {
			defer q.b.wg.Done()
			q.bodies.snapshotLoop(q.b.ctx, g)
		}()
	}
}

// applied hands a command's deliveries to the dispatcher, in log order
// (it runs under the state machine's write lock), and ends the streams of
// the consumers and sessions the command removed. On the leader, dead
// letters are republished and idle auto-delete queues deleted once the
// lock is released.
func (q *queueGroup) applied(cmd proto.Message, res *fsm.Result) func() {
	d := q.disp.Load()
	if q.bodies != nil {
		q.bodies.fillGone(res, d != nil)
	}
	if d == nil {
		return nil
	}
	q.counters.count(cmd, res)
	switch b := cmd.(type) {
	case *fsmpb.SessionDown:
		d.EndSessions(b.GetSessions())
	case *fsmpb.Cancel:
		d.EndConsumer(dispatch.Key{Queue: b.GetQueue(), Session: b.GetSession(), Tag: b.GetConsumerTag()})
	}
	for _, e := range res.Ended {
		d.EndConsumerWith(dispatch.Key{Queue: e.Queue, Session: e.Session, Tag: e.Tag}, consumerEnded(e))
	}
	d.ActiveChanged(res.ActiveChanged)
	d.Deliver(res.Deliveries)
	if res.Outboxed > 0 {
		q.kickOutbox()
	}
	if _, ok := cmd.(*fsmpb.DelayMessages); ok {
		q.kickDelay()
	}
	if len(res.DeadLetters) == 0 && len(res.IdleQueues) == 0 && len(res.ExpiredQueues) == 0 {
		return nil
	}
	return func() {
		if len(res.ExpiredQueues) > 0 {
			q.b.expireQueues(res.ExpiredQueues)
		}
		// At-least-once dead letters are in the outbox: the leader loop
		// publishes them. The others go now, at most once.
		var atMostOnce []fsm.DeadLetter
		for _, dl := range res.DeadLetters {
			if dl.OutboxID == 0 {
				atMostOnce = append(atMostOnce, dl)
			}
		}
		if len(atMostOnce) > 0 {
			q.b.republishDeadLetters(atMostOnce)
		}
		if len(res.IdleQueues) > 0 {
			q.b.autoDeleteIdle(res.IdleQueues)
		}
	}
}

// consumerEnded is the error a consumer's stream ends with when a command
// removed it without its own Cancel: NOT_FOUND when its queue went (RabbitMQ
// sends basic.cancel then), saying why.
func consumerEnded(e fsm.EndedConsumer) error {
	if e.Timeout {
		return fmt.Errorf("%w: %s (queue %q, consumer %q); its deliveries were returned to the queue", fsm.ErrPrecondition, e.Reason, e.QueueName, e.Tag)
	}
	return fmt.Errorf("%w: %s (queue %q); consumer %q cancelled by the server", fsm.ErrNotFound, e.Reason, e.QueueName, e.Tag)
}

// Propose implements dispatch.Proposer (forwarded to the leader when this
// node is not it). On a follower the command is forwarded; its result then
// carries no effects (deliveries), so commands that need them run on the
// leader.
func (q *queueGroup) Propose(ctx context.Context, cmd proto.Message) (*fsm.Result, error) {
	res, _, err := q.b.proposeOrForward(ctx, q.group, cmd)
	return res, err
}

// run proposes one of the broker's own commands: Propose, with the state
// machine's domain error (Result.Err) returned as the error.
func (q *queueGroup) run(ctx context.Context, cmd proto.Message) (*fsm.Result, error) {
	res, err := q.Propose(ctx, cmd)
	if err == nil && res.Err != nil {
		return nil, res.Err
	}
	return res, err
}

// dispatcher returns the group's dispatcher, or a NotLeaderError when this
// node does not lead the group (or has not finished taking over).
func (q *queueGroup) dispatcher() (*dispatch.Dispatcher, error) {
	if d := q.disp.Load(); d != nil {
		return d, nil
	}
	return nil, q.group.NotLeader()
}

// onLeadership runs on the group's monitor goroutine, in order.
func (q *queueGroup) onLeadership(isLeader bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.leaderCancel != nil {
		q.leaderCancel()
		<-q.leaderDone
		q.leaderCancel, q.leaderDone = nil, nil
	}
	if !isLeader {
		return
	}
	ctx, cancel := context.WithCancel(q.b.ctx)
	done := make(chan struct{})
	q.leaderCancel, q.leaderDone = cancel, done
	q.b.wg.Add(1)
	go func() {
		defer q.b.wg.Done()
		defer close(done)
		q.leaderLoop(ctx)
	}()
}

// leaderLoop runs while this node leads the group: it waits until the
// state is current, starts a dispatcher, returns the deliveries of sessions
// that did not come back within the grace period, and ticks leases and
// TTLs.
func (q *queueGroup) leaderLoop(ctx context.Context) {
	select {
	case <-q.b.opened:
	case <-ctx.Done():
		return
	}
	if err := q.group.Barrier(ctx); err != nil {
		q.logger.Warn("barrier failed; not serving as leader", "error", err)
		return
	}
	d := dispatch.New(q, q.logger)
	d.SetClock(func() int64 {
		if q.features.ok() {
			return time.Now().UnixMilli()
		}
		return 0
	})
	// Gets taken under the previous leader stay their sessions' until the
	// sessions end: let their acks through here.
	q.fsm.read(func(g *fsm.QueueGroup) {
		for _, s := range g.Sessions() {
			for _, dv := range g.CheckedOut(s) {
				if dv.ConsumerTag == "" {
					d.TrackGet(dv)
				}
			}
		}
	})
	q.disp.Store(d)
	q.dispChanged.fire()
	defer func() {
		q.disp.Store(nil)
		q.dispChanged.fire()
		q.counters.forget()
		d.Stop(q.group.NotLeader())
	}()
	q.readyOnce.Do(func() { close(q.ready) })

	// absent holds the consumers the last round found in the state with
	// no stream here.
	var absent map[dispatch.Key]bool
	grace := time.NewTimer(q.b.cfg.SessionGrace)
	defer grace.Stop()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	// Dead letters a previous leader left in the outbox go now, flagged.
	var lastOutboxID uint64
	q.fsm.read(func(g *fsm.QueueGroup) { lastOutboxID = g.LastOutboxID() })
	q.outbox.lead(lastOutboxID)
	q.publishOutbox(ctx, false)
	// One timer for the first delayed message (the index's head).
	delay := time.NewTimer(time.Hour)
	defer delay.Stop()
	q.armDelay(delay)
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.outbox.kick:
			q.publishOutbox(ctx, false)
		case <-q.outbox.delayKick:
			q.armDelay(delay)
		case now := <-delay.C:
			if q.tickIfDue(ctx, now) {
				q.forgetReturnedGets(d)
			}
			q.armDelay(delay)
		case <-grace.C:
			q.downAbsentSessions(ctx, d)
			absent = q.cancelAbsentConsumers(d, absent)
			grace.Reset(sessionCheckEvery)
		case now := <-tick.C:
			if q.tickIfDue(ctx, now) {
				q.forgetReturnedGets(d)
			}
			q.publishOutbox(ctx, true)
			q.armDelay(delay)
		}
	}
}

// downAbsentSessions returns the deliveries of sessions in the state that
// no node of the cluster serves any more: no stream attached here, no
// Session stream here or on an alive peer. It runs once the grace period
// after taking over has passed, then every sessionCheckEvery, which also
// catches sessions whose node died while this leader stayed.
func (q *queueGroup) downAbsentSessions(ctx context.Context, d *dispatch.Dispatcher) {
	var sessions []string
	q.fsm.read(func(g *fsm.QueueGroup) { sessions = g.Sessions() })
	var absent []string
	for _, s := range sessions {
		if !d.Attached(s) && !q.b.sessions.live(s) {
			absent = append(absent, s)
		}
	}
	if len(absent) == 0 {
		return
	}
	absent, err := q.b.goneSessions(ctx, absent)
	if err != nil {
		q.logger.Debug("not returning deliveries of absent sessions yet", "error", err)
		return
	}
	if len(absent) == 0 {
		return
	}
	q.logger.Info("returning deliveries of sessions no node serves", "sessions", absent)
	if err := d.SessionDown(ctx, absent); err != nil && !errors.Is(err, context.Canceled) {
		q.logger.Warn("session down failed", "sessions", absent, "error", err)
	}
}

// cancelAbsentConsumers cancels the consumers that the state has but no
// stream here serves, in this round and the one before (a consumer stream
// always attaches to the leader, so one absent that long is gone; two
// rounds keep clear of a stream whose own Cancel is still queued). Their
// checked-out messages return to their queues. This catches consumers a
// stream left behind without a Cancel, e.g. one re-subscribed under
// another tag while its node was changing leadership. It returns this
// round's absent consumers.
func (q *queueGroup) cancelAbsentConsumers(d *dispatch.Dispatcher, before map[dispatch.Key]bool) map[dispatch.Key]bool {
	var consumers []fsm.ConsumerInfo
	q.fsm.read(func(g *fsm.QueueGroup) { consumers = g.Consumers() })
	now := map[dispatch.Key]bool{}
	var cancel []dispatch.Key
	for _, c := range consumers {
		key := dispatch.Key{Queue: c.Queue, Session: c.Session, Tag: c.Tag}
		if d.Registered(key) {
			continue
		}
		now[key] = true
		if before[key] {
			cancel = append(cancel, key)
		}
	}
	if len(cancel) > 0 {
		names := make([]string, len(cancel))
		for i, k := range cancel {
			names[i] = k.Session + "/" + k.Tag
		}
		q.logger.Info("cancelling consumers that have had no stream for a round", "consumers", names)
		d.CancelAbsent(cancel)
	}
	return now
}

// tickIfDue proposes a Tick when a lease or TTL is due and reports
// whether one was applied.
func (q *queueGroup) tickIfDue(ctx context.Context, now time.Time) bool {
	var due int64
	q.fsm.read(func(g *fsm.QueueGroup) { due = g.NextDeadline() })
	ms := now.UnixMilli()
	if due == 0 || due > ms {
		return false
	}
	if _, err := q.run(ctx, &fsmpb.Tick{NowMs: ms}); err != nil {
		q.logger.Debug("tick failed", "error", err)
		return false
	}
	return true
}

// forgetReturnedGets drops the dispatcher's record of gets that a Tick
// returned to their queues (lease expired).
func (q *queueGroup) forgetReturnedGets(d *dispatch.Dispatcher) {
	held := map[dispatch.Key]map[uint64]bool{}
	q.fsm.read(func(g *fsm.QueueGroup) {
		for _, s := range g.Sessions() {
			for _, dv := range g.CheckedOut(s) {
				if dv.ConsumerTag != "" {
					continue
				}
				key := dispatch.Key{Queue: dv.Queue, Session: dv.Session}
				if held[key] == nil {
					held[key] = map[uint64]bool{}
				}
				held[key][dv.Tag] = true
			}
		}
	})
	d.RetainGets(func(key dispatch.Key, tag uint64) bool { return held[key][tag] })
}

// close stops the leader work and group commit; the node shuts the group
// down.
func (q *queueGroup) close() {
	q.mu.Lock()
	cancel, done := q.leaderCancel, q.leaderDone
	q.leaderCancel, q.leaderDone = nil, nil
	q.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if q.commit != nil {
		q.commit.close()
	}
}
