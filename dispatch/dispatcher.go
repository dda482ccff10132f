package dispatch

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// Proposer submits a command to the queue group's Raft log and returns the
// state machine's result once applied on this node. Package broker
// implements it (its queueGroup), so dispatch never imports broker.
type Proposer interface {
	Propose(ctx context.Context, cmd proto.Message) (*fsm.Result, error)
}

// proposeTimeout bounds one flush command; a leader that cannot commit in
// this time is about to lose its leadership anyway.
const proposeTimeout = 30 * time.Second

// Dispatcher owns a queue group's live consumers on its leader. Its methods
// are safe for concurrent use.
type Dispatcher struct {
	proposer Proposer
	logger   hclog.Logger
	// clock stamps the commands the flusher proposes (now_ms); it returns
	// 0 while the group may hold replicas that would ignore the field.
	clock func() int64

	mu        sync.Mutex
	consumers map[Key]*Consumer
	gets      map[Key]*tagSet
	// consumersOf and getsOf index the keys of consumers and gets by
	// session, so that what runs when a session ends (EndSessions,
	// SessionDown, Attached) costs what the session holds here, not every
	// consumer of the group: a wave of thousands of ended sessions would
	// otherwise scan every consumer once per session, partly on the apply
	// path.
	consumersOf sessionKeys
	getsOf      sessionKeys
	pend        pending
	stopped     bool
	stopErr     error

	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
}

// New starts a dispatcher whose flusher proposes settlements through p.
func New(p Proposer, logger hclog.Logger) *Dispatcher {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	d := &Dispatcher{
		proposer:    p,
		logger:      logger,
		consumers:   map[Key]*Consumer{},
		gets:        map[Key]*tagSet{},
		consumersOf: sessionKeys{},
		getsOf:      sessionKeys{},
		kick:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
	}
	d.wg.Add(1)
	go d.flushLoop()
	return d
}

// SetClock makes the flusher stamp its commands with clock's time (Unix
// ms; 0 for none). Call it before the dispatcher is used.
func (d *Dispatcher) SetClock(clock func() int64) { d.clock = clock }

// now is the time to stamp a command with.
func (d *Dispatcher) now() int64 {
	if d.clock == nil {
		return 0
	}
	return d.clock()
}

// Register attaches a live stream for consumer key, whose prefetch is
// prefetch (0: unlimited), before its Checkout is proposed, so no delivery
// of that Checkout can arrive before the stream.
func (d *Dispatcher) Register(key Key, autoAck bool, prefetch uint32) (*Consumer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, d.stopErr
	}
	if _, ok := d.consumers[key]; ok {
		return nil, fmt.Errorf("%w: %q", ErrConsumerExists, key.Tag)
	}
	c := &Consumer{key: key, autoAck: autoAck, prefetch: prefetch, d: d, notify: make(chan struct{}, 1)}
	d.consumers[key] = c
	d.consumersOf.add(key)
	return c, nil
}

// Forget drops a registered consumer whose Checkout failed; no Cancel is
// proposed.
func (d *Dispatcher) Forget(c *Consumer) {
	c.closeWith(ErrConsumerClosed)
	d.unregister(c, false)
}

func (d *Dispatcher) unregister(c *Consumer, cancel bool) <-chan error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.consumers[c.key] == c {
		delete(d.consumers, c.key)
		d.consumersOf.remove(c.key)
	}
	if !cancel {
		return nil
	}
	done := make(chan error, 1)
	if d.stopped {
		done <- d.stopErr
		return done
	}
	d.pend.cancels = append(d.pend.cancels, c.key)
	d.pend.addCancelWaiter(c.key, done)
	d.signal()
	return done
}

// Deliver hands the deliveries of one applied command to their consumers.
// It is called on the apply path and never blocks; deliveries for consumers
// with no live stream here are dropped (their Cancel or SessionDown will
// return them).
func (d *Dispatcher) Deliver(ds []fsm.Delivery) {
	if len(ds) == 0 {
		return
	}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	var batch []fsm.Delivery
	var cur *Consumer
	flush := func() {
		if cur != nil && len(batch) > 0 {
			cur.push(batch)
		}
		batch = batch[:0]
	}
	for _, dv := range ds {
		c := d.consumers[Key{Queue: dv.Queue, Session: dv.Session, Tag: dv.ConsumerTag}]
		if c != cur {
			flush()
			cur = c
		}
		if c != nil {
			batch = append(batch, dv)
		}
	}
	flush()
	d.mu.Unlock()
}

// ActiveChanged tells the live consumers among changes that they became,
// or stopped being, the active consumer of their queue. Called on the
// apply path; never blocks.
func (d *Dispatcher) ActiveChanged(changes []fsm.ActiveChange) {
	if len(changes) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ch := range changes {
		if c := d.consumers[Key{Queue: ch.Queue, Session: ch.Session, Tag: ch.Tag}]; c != nil {
			c.pushState(ch.Active)
		}
	}
}

// TrackGet records an unacked Get so that its later Settle can be checked.
func (d *Dispatcher) TrackGet(dv fsm.Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := Key{Queue: dv.Queue, Session: dv.Session}
	s := d.gets[key]
	if s == nil {
		s = &tagSet{}
		d.gets[key] = s
		d.getsOf.add(key)
	}
	s.add(dv.Tag)
}

// RetainGets forgets the get tags for which outstanding reports false, such
// as gets whose lease ran out and that went back to the queue, so their
// memory is released and a late ack of them is refused.
func (d *Dispatcher) RetainGets(outstanding func(key Key, tag uint64) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, s := range d.gets {
		for _, tag := range s.removeUpTo(0) {
			if outstanding(key, tag) {
				s.add(tag)
			}
		}
		if s.len() == 0 {
			delete(d.gets, key)
			d.getsOf.remove(key)
		}
	}
}

// SettleGet settles deliveries taken with Get, as Consumer.Settle does.
func (d *Dispatcher) SettleGet(queue uint64, session string, kind SettleKind, tag uint64, multiple bool) (<-chan error, error) {
	key := Key{Queue: queue, Session: session}
	d.mu.Lock()
	s := d.gets[key]
	var tags []uint64
	switch {
	case s == nil:
	case multiple:
		tags = s.removeUpTo(tag)
	case s.remove(tag):
		tags = []uint64{tag}
	}
	if s != nil && s.len() == 0 {
		delete(d.gets, key)
		d.getsOf.remove(key)
	}
	d.mu.Unlock()
	if len(tags) == 0 {
		return nil, fmt.Errorf("%w %d: no unacked get with that tag on this queue in this session", ErrUnknownTag, tag)
	}
	return d.enqueue(key, kind, tags, nil), nil
}

// SessionDown proposes, after the settlements already queued, that the
// sessions' consumers and gets are released, and waits for it.
func (d *Dispatcher) SessionDown(ctx context.Context, sessions []string) error {
	d.mu.Lock()
	if d.stopped {
		// No flusher runs any more; the next leader returns what is left.
		err := d.stopErr
		d.mu.Unlock()
		return err
	}
	for _, s := range sessions {
		for key := range d.getsOf[s] {
			delete(d.gets, key)
		}
		delete(d.getsOf, s)
	}
	done := make(chan error, 1)
	d.pend.downs = append(d.pend.downs, sessionDown{sessions: sessions, done: done})
	d.signal()
	d.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EndSessions ends the live consumers of sessions whose consumers an
// applied SessionDown just removed from the state: nothing will be assigned
// to them any more, so their streams must end (clients re-subscribe) rather
// than wait forever. No Cancel is proposed; the state already dropped them.
// Called on the apply path; never blocks.
func (d *Dispatcher) EndSessions(sessions []string) {
	d.mu.Lock()
	var ended []*Consumer
	for _, s := range sessions {
		for key := range d.consumersOf[s] {
			ended = append(ended, d.consumers[key])
			delete(d.consumers, key)
		}
		delete(d.consumersOf, s)
	}
	d.mu.Unlock()
	for _, c := range ended {
		c.closeWith(ErrSessionEnded)
	}
}

// EndConsumer ends the live stream registered under key, if any, after an
// applied Cancel removed that consumer from the state. A client that
// re-subscribed with the same tag before an older stream's Cancel was
// applied would otherwise keep a stream to which nothing is ever assigned.
// Called on the apply path; never blocks.
func (d *Dispatcher) EndConsumer(key Key) { d.EndConsumerWith(key, ErrSessionEnded) }

// EndConsumerWith ends the live stream registered under key, if any, with
// err: the consumer is gone from the state without a Cancel of its own (its
// queue was deleted, say), and err tells the client why. No Cancel is
// proposed. Called on the apply path; never blocks.
func (d *Dispatcher) EndConsumerWith(key Key, err error) {
	d.mu.Lock()
	c := d.consumers[key]
	if c != nil {
		delete(d.consumers, key)
		d.consumersOf.remove(key)
	}
	d.mu.Unlock()
	if c != nil {
		c.closeWith(err)
	}
}

// Registered reports whether a live stream is registered under key.
func (d *Dispatcher) Registered(key Key) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.consumers[key] != nil
}

// CancelAbsent queues a Cancel, after the settlements already queued, for
// consumers that the state has but no stream here serves (their stream
// ended in a way that proposed no Cancel).
func (d *Dispatcher) CancelAbsent(keys []Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || len(keys) == 0 {
		return
	}
	d.pend.cancels = append(d.pend.cancels, keys...)
	d.signal()
}

// Attached reports whether session has a live consumer here. O(1).
func (d *Dispatcher) Attached(session string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.consumersOf[session]) > 0
}

// Stop closes every consumer with err (normally: leadership lost) and stops
// the flusher. Settlements not yet proposed are dropped: the next leader
// returns what is still checked out.
func (d *Dispatcher) Stop(err error) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped, d.stopErr = true, err
	consumers := make([]*Consumer, 0, len(d.consumers))
	for _, c := range d.consumers {
		consumers = append(consumers, c)
	}
	d.consumers = map[Key]*Consumer{}
	d.consumersOf = sessionKeys{}
	d.pend.fail(err)
	// Answered now: the flusher must not see them again.
	d.pend = pending{}
	d.mu.Unlock()
	for _, c := range consumers {
		c.closeWith(err)
	}
	close(d.quit)
	d.wg.Wait()
}

// enqueue queues a settlement of tags for the flusher. c is the consumer
// they were delivered to, nil for gets: a get's Settle is a call that
// waits for the commit, so it is proposed at once, as are the settlements
// of a consumer that may be waiting for their credit (needsCredit) and
// every Return and Discard: a message nacked with requeue is back in the
// queue for the client's next Get or another consumer without a linger's
// delay (RabbitMQ's channels keep that order), and a dead letter goes on.
func (d *Dispatcher) enqueue(key Key, kind SettleKind, tags []uint64, c *Consumer) <-chan error {
	done := make(chan error, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		done <- d.stopErr
		return done
	}
	d.pend.add(key, kind, tags, done)
	if c == nil || kind != Ack || d.pend.tags >= lingerMaxTags || c.needsCredit(d.pend.count(key)) {
		d.pend.urgent = true
	}
	d.signal()
	return done
}

func (d *Dispatcher) signal() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Retrying a settlement that was not committed: the first retry after
// retryFirst, each next one twice as late, up to retryMax.
const (
	retryFirst = 20 * time.Millisecond
	retryMax   = time.Second
)

// A settlement nobody waits for — a stream's ack (not a nack), whose
// consumer has more than half its credit free — lingers up to settleLinger before it is
// proposed, so that the acks of a light load share Raft entries: each
// entry costs an fdatasync on every voter, and at 1,000 msg/s one a
// message doubled the disk writes and most of a node's CPU (an fdatasync
// costs about 0.2 ms of CPU on the VMs measured: warren bench floor). A
// lingering ack holds back no delivery (the consumer has credit left), it
// only shows in listings as unacked a few milliseconds longer, and a crash
// in that window redelivers the message, as one just before the ack
// would. Anything else — a consumer short of credit, a nack, a get's
// Settle, a Cancel or SessionDown, lingerMaxTags tags — flushes what is
// pending at once, lingering settlements included, in order.
const lingerMaxTags = 1024

// settleLinger is a variable for tests.
var settleLinger = 5 * time.Millisecond

// flushLoop proposes whatever settlements accumulated while the previous
// proposal was in flight: under load many acks share one Raft entry. A
// flush that could not commit (flush) is tried again after a back-off,
// with whatever accumulated meanwhile.
func (d *Dispatcher) flushLoop() {
	defer d.wg.Done()
	backoff := time.Duration(0)
	for {
		if backoff == 0 {
			select {
			case <-d.quit:
				return
			case <-d.kick:
			}
			if !d.linger() {
				return
			}
		} else {
			t := time.NewTimer(backoff)
			select {
			case <-d.quit:
				t.Stop()
				return
			case <-t.C:
			}
		}
		d.mu.Lock()
		p := d.pend
		d.pend = pending{}
		d.mu.Unlock()
		if d.flush(p) {
			backoff = min(max(2*backoff, retryFirst), retryMax)
		} else {
			backoff = 0
		}
	}
}

// linger waits, while what is pending may linger, until it may not or
// settleLinger has passed. It reports false when the dispatcher stopped.
func (d *Dispatcher) linger() bool {
	var t *time.Timer
	for {
		d.mu.Lock()
		may := d.pend.mayLinger()
		d.mu.Unlock()
		if !may {
			break
		}
		if t == nil {
			t = time.NewTimer(settleLinger)
			defer t.Stop()
		}
		select {
		case <-d.quit:
			return false
		case <-t.C:
			return true
		case <-d.kick:
		}
	}
	return true
}

// settleKinds is the order in which a flush proposes settlements.
var settleKinds = [...]SettleKind{Ack, Return, Discard}

// flush proposes p in order and reports whether it must be tried again.
// A settlement that was not committed while this dispatcher still serves
// (a leadership transfer that was refused or failed, a commit that timed
// out) goes back, with everything after it, in front of what is pending:
// it is tried again until it commits or the dispatcher stops. Dropping it
// would leave the messages checked out to a consumer that lives on, its
// credit used up by deliveries the client believes it acked, and the
// queue stuck. A settlement applied twice is harmless: a tag no longer
// checked out is skipped, and tags are never reused. Only a refusal by
// the state machine is final.
func (d *Dispatcher) flush(p pending) (retry bool) {
	for i, kind := range settleKinds {
		items := p.items(kind)
		if len(items) == 0 {
			continue
		}
		var cmd proto.Message
		switch kind {
		case Ack:
			cmd = &fsmpb.Settle{Items: items, NowMs: d.now()}
		case Return:
			cmd = &fsmpb.Return{Items: items, NowMs: d.now()}
		case Discard:
			cmd = &fsmpb.Discard{Items: items, NowMs: d.now()}
		}
		final, err := d.propose(cmd)
		if !final {
			// The kinds before this one are committed and answered.
			for _, done := range settleKinds[:i] {
				for _, tags := range p.settles[done] {
					p.tags -= len(tags)
				}
				delete(p.settles, done)
				delete(p.waiters, done)
			}
			d.putBack(p)
			return true
		}
		p.finish(kind, err)
	}
	d.proposeCancels(p.cancels, p.cancelWaiters)
	d.proposeDowns(p.downs)
	return false
}

// putBack returns p, which the flusher could not commit, to the front of
// what is pending; after Stop its waiters hear the stop error.
func (d *Dispatcher) putBack(p pending) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		p.fail(d.stopErr)
		return
	}
	d.pend = p.then(d.pend)
}

// sessionsPerDown bounds the sessions of one SessionDown the flusher
// proposes: 1,000 ids of at most 128 bytes stay far below a Raft entry's
// limit (raftgroup.MaxEntrySize, 256 KiB) and fsm.MaxSessionsPerCommand.
const sessionsPerDown = 1000

// proposeDowns proposes the sessions of every SessionDown waiting, in
// order, together: in commands of up to sessionsPerDown sessions, one
// after another. When thousands of sessions end at once, that is a few
// Raft entries instead of one per session, each waiting for the one
// before (which kept the flusher, and the acks queued behind it, busy for
// seconds). Each waiter hears the first error of the commands that
// carried its sessions, once all of them are applied.
func (d *Dispatcher) proposeDowns(downs []sessionDown) {
	errs := make([]error, len(downs))
	var chunk []string
	var owners []int // the downs with a session in chunk
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		_, err := d.propose(&fsmpb.SessionDown{Sessions: chunk, NowMs: d.now()})
		for _, i := range owners {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		chunk, owners = nil, nil
	}
	for i, sd := range downs {
		for _, s := range sd.sessions {
			if len(chunk) == sessionsPerDown {
				flush()
			}
			if len(owners) == 0 || owners[len(owners)-1] != i {
				owners = append(owners, i)
			}
			chunk = append(chunk, s)
		}
	}
	flush()
	for i, sd := range downs {
		sd.done <- errs[i]
	}
}

// cancelsInFlight bounds the Cancel proposals in flight at once. Raft
// writes concurrent proposals in one batch, so a mass disconnect (a client
// host with thousands of consumers dying) costs a few disk writes instead
// of one per consumer, and acks queued behind it are not held up for long.
const cancelsInFlight = 256

// proposeCancels proposes one Cancel per key, concurrently, and returns
// when all are done; waiters of a key hear its outcome. Cancels of
// different consumers do not depend on each other's order; they all follow
// the settlements flushed before them.
func (d *Dispatcher) proposeCancels(keys []Key, waiters map[Key][]chan error) {
	sem := make(chan struct{}, cancelsInFlight)
	var wg sync.WaitGroup
	seen := make(map[Key]bool, len(keys))
	for _, key := range keys {
		if seen[key] {
			continue // queued twice (a Close and a CancelAbsent): one Cancel does
		}
		seen[key] = true
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := d.propose(&fsmpb.Cancel{Queue: key.Queue, Session: key.Session, ConsumerTag: key.Tag, NowMs: d.now()})
			for _, w := range waiters[key] {
				w <- err
			}
		}()
	}
	wg.Wait()
}

// propose commits cmd. final is false when it was not committed for a
// reason that may pass (not the state machine's refusal): the caller may
// try again. A Cancel or SessionDown not committed is not tried again
// here: the leader's liveness checks return what such a consumer or
// session holds (broker's cancelAbsentConsumers, downAbsentSessions).
func (d *Dispatcher) propose(cmd proto.Message) (final bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	res, err := d.proposer.Propose(ctx, cmd)
	if err != nil {
		d.logger.Warn("settlement not committed", "command", fmt.Sprintf("%T", cmd), "error", err)
		return false, err
	}
	if res != nil && res.Err != nil {
		d.logger.Warn("settlement refused", "command", fmt.Sprintf("%T", cmd), "error", res.Err)
		return true, res.Err
	}
	return true, nil
}

// pending is what the flusher has yet to propose.
type pending struct {
	settles map[SettleKind]map[Key][]uint64
	// tags counts the tags in settles.
	tags    int
	waiters map[SettleKind][]chan error
	// urgent is set when a settlement pending may not linger
	// (settleLinger): see enqueue.
	urgent  bool
	cancels []Key
	// cancelWaiters hear the outcome of their key's Cancel (a consumer
	// closed with CloseWait); each key is once in cancels for them.
	cancelWaiters map[Key][]chan error
	downs         []sessionDown
}

func (p *pending) addCancelWaiter(key Key, done chan error) {
	if p.cancelWaiters == nil {
		p.cancelWaiters = map[Key][]chan error{}
	}
	p.cancelWaiters[key] = append(p.cancelWaiters[key], done)
}

type sessionDown struct {
	sessions []string
	done     chan error
}

func (p *pending) add(key Key, kind SettleKind, tags []uint64, done chan error) {
	if p.settles == nil {
		p.settles = map[SettleKind]map[Key][]uint64{}
		p.waiters = map[SettleKind][]chan error{}
	}
	m := p.settles[kind]
	if m == nil {
		m = map[Key][]uint64{}
		p.settles[kind] = m
	}
	m[key] = append(m[key], tags...)
	p.tags += len(tags)
	if done != nil {
		p.waiters[kind] = append(p.waiters[kind], done)
	}
}

// mayLinger reports whether what is pending may wait (settleLinger): no
// settlement that may not, and no Cancel or SessionDown.
func (p *pending) mayLinger() bool {
	return !p.urgent && len(p.cancels) == 0 && len(p.downs) == 0
}

// count is how many of key's tags are pending, of every kind.
func (p *pending) count(key Key) int {
	n := 0
	for _, kind := range settleKinds {
		n += len(p.settles[kind][key])
	}
	return n
}

// items returns kind's settlements sorted by consumer so the command bytes
// do not depend on map order.
func (p *pending) items(kind SettleKind) []*fsmpb.ConsumerTags {
	m := p.settles[kind]
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Queue != b.Queue {
			return a.Queue < b.Queue
		}
		if a.Session != b.Session {
			return a.Session < b.Session
		}
		return a.Tag < b.Tag
	})
	items := make([]*fsmpb.ConsumerTags, 0, len(keys))
	for _, k := range keys {
		items = append(items, &fsmpb.ConsumerTags{Queue: k.Queue, Session: k.Session, ConsumerTag: k.Tag, Tags: m[k]})
	}
	return items
}

// then is p followed by next: next's settlements join p's (one command
// per kind carries both), its Cancels and SessionDowns come after p's.
func (p pending) then(next pending) pending {
	for _, kind := range settleKinds {
		for key, tags := range next.settles[kind] {
			p.add(key, kind, tags, nil)
		}
		if len(next.waiters[kind]) > 0 {
			if p.waiters == nil {
				p.waiters = map[SettleKind][]chan error{}
			}
			p.waiters[kind] = append(p.waiters[kind], next.waiters[kind]...)
		}
	}
	p.cancels = append(p.cancels, next.cancels...)
	for key, ws := range next.cancelWaiters {
		for _, w := range ws {
			p.addCancelWaiter(key, w)
		}
	}
	p.downs = append(p.downs, next.downs...)
	p.urgent = p.urgent || next.urgent
	return p
}

func (p *pending) finish(kind SettleKind, err error) {
	for _, w := range p.waiters[kind] {
		w <- err
	}
}

func (p *pending) fail(err error) {
	for kind := range p.waiters {
		p.finish(kind, err)
	}
	for _, ws := range p.cancelWaiters {
		for _, w := range ws {
			w <- err
		}
	}
	for _, sd := range p.downs {
		sd.done <- err
	}
}

// sessionKeys indexes consumer or get keys by their session; a session is
// listed only while it has a key.
type sessionKeys map[string]map[Key]struct{}

func (ix sessionKeys) add(k Key) {
	set := ix[k.Session]
	if set == nil {
		set = map[Key]struct{}{}
		ix[k.Session] = set
	}
	set[k] = struct{}{}
}

func (ix sessionKeys) remove(k Key) {
	set := ix[k.Session]
	delete(set, k)
	if len(set) == 0 {
		delete(ix, k.Session)
	}
}
