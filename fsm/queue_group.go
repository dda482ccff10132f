package fsm

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// QueueGroup is the state of one queue Raft group: every queue placed on it,
// with its ready and checked-out messages, consumers and gets, plus the
// group's publish-deduplication table (see DedupWindow).
//
// It is a pure, deterministic function of the commands applied: no clock (time
// comes only from the now_ms fields of commands), no randomness, no I/O but
// the snapshot reader and writer, and no map-iteration order reaching results
// or snapshots. Two replicas fed the same log hold byte-identical snapshots.
//
// Publishes carrying a producer id and sequence are deduplicated within a
// window of DedupWindow sequences per producer, for at most DedupMaxProducers
// producers (least recently used evicted).
//
// Not safe for concurrent use: the caller serialises Apply with everything
// else. The read methods (QueueStats, Sessions, CheckedOut, Consumers,
// NextDeadline, LastIndex, WriteSnapshot) do not modify the state, so several
// may run concurrently with each other, under a read lock, while no Apply
// runs. Capture (under the exclusive lock) gives a view of the state that
// may be written while Apply runs (snapshot_view.go). Payloads of applied commands are kept and handed out in Results:
// neither the caller nor the receivers of Results may mutate them.
type QueueGroup struct {
	queues     map[uint64]*queueState
	tombstones map[uint64]struct{} // dropped ids; ids are never reused
	dedup      *dedupTable
	// sessions maps a session to the queues where it has consumers or a
	// get-holder, and on each to their consumer tags ("" for the
	// get-holder), so that SessionDown, CheckedOut and Sessions cost what
	// the session holds, not the number of queues or of their consumers.
	sessions map[string]map[uint64]map[string]struct{}

	lastIndex uint64 // highest Raft index applied
	lastNow   int64  // highest now_ms seen, Unix ms: the machine's clock
	// sizeRule is the newest size rule of an Enqueue applied so far (or
	// implied by the restored snapshot's version). It decides only the
	// snapshot format: until a group applies SIZE_RULE_WITH_HEADERS every
	// size is a body length, and it writes version 1, which builds from
	// before the rule read (a follower not yet upgraded must be able to
	// install the snapshot of an upgraded leader).
	sizeRule fsmpb.SizeRule
	// features is set once the group holds state of FSM version 3 (a
	// queue spec, command or consumer with a version 3 feature): it decides
	// only the snapshot format, version 3 from then on.
	features bool
	// outbox holds at-least-once dead letters until the leader settles
	// them (queue_outbox.go); nextOutboxID is the last id given.
	outbox       map[uint64]*outboxEntry
	nextOutboxID uint64
	// delayed holds the delayed messages not yet due (queue_delay.go);
	// nextDelayID is the last id given.
	delayed     delayHeap
	nextDelayID uint64

	// wholePayloads, set by tests only, holds every payload as it is,
	// never inline (msgBody): the reference the inline form must match.
	wholePayloads bool

	// Per command scratch, empty between commands.
	cur   uint64        // Raft index of the command being applied
	dirty []*queueState // queues the command touched, for the assignment pass
}

// NewQueueGroup returns an empty queue group state.
func NewQueueGroup() *QueueGroup {
	return &QueueGroup{
		queues:     make(map[uint64]*queueState),
		tombstones: make(map[uint64]struct{}),
		dedup:      newDedupTable(),
		sessions:   make(map[string]map[uint64]map[string]struct{}),
	}
}

// Apply applies one command, given by its body (as Decode returns it), at
// Raft index index and returns its result, never nil. After the command it
// assigns ready messages to consumers with credit (queues in id order) and
// reports those assignments in Result.Deliveries.
//
// It never panics on any input: a malformed body (a typed nil pointer,
// missing fields) or a reference to an unknown id yields a Result with Err
// set, the same on every replica, and leaves the state unchanged (but for
// LastIndex). A typed nil body is ErrBadCommand; a meta command, a nil body
// or a message that is no command yields Err wrapping ErrUnknownCommand.
//
// Every command is checked against the limits of limits.go before it
// changes anything, as the API edge checks requests: queue specs
// (ValidQueueSpec), session ids, consumer tags, prefetch, the framing of an
// Enqueue (queue refs in range, at least one, a payload). A command that
// fails is refused with Err wrapping ErrInvalid. The payload of one
// enqueued message (ValidPayload) is the exception: a bad one is refused
// alone, as EnqueueRejected, because one Enqueue carries the messages of
// many publishers. A SessionDown id that holds something in the group is
// taken whatever its form, so that what an older log accepted can go.
func (g *QueueGroup) Apply(index uint64, cmd proto.Message) *Result {
	res := &Result{}
	g.cur = index
	g.lastIndex = max(g.lastIndex, index)
	if res.Err = checkBody(cmd, false); res.Err == nil {
		switch b := cmd.(type) {
		case *fsmpb.Enqueue:
			g.applyEnqueue(b, res)
		case *fsmpb.Checkout:
			g.applyCheckout(b, res)
		case *fsmpb.Cancel:
			g.applyCancel(b, res)
		case *fsmpb.Settle:
			g.applySettle(b.GetItems(), settleAck, b.GetNowMs(), res)
		case *fsmpb.Return:
			g.applySettle(b.GetItems(), settleReturn, b.GetNowMs(), res)
		case *fsmpb.Discard:
			g.applySettle(b.GetItems(), settleDiscard, b.GetNowMs(), res)
		case *fsmpb.SessionDown:
			g.applySessionDown(b, res)
		case *fsmpb.Purge:
			g.applyPurge(b, res)
		case *fsmpb.Tick:
			g.applyTick(b, res)
		case *fsmpb.Get:
			g.applyGet(b, res)
		case *fsmpb.DropQueue:
			g.applyDropQueue(b, res)
		case *fsmpb.QueueUsed:
			g.applyQueueUsed(b, res)
		case *fsmpb.SettleDeadLetters:
			g.applySettleDeadLetters(b, res)
		case *fsmpb.DelayMessages:
			g.applyDelayMessages(b, res)
		default:
			// A queue command type that commandType knows and this switch
			// does not: TestQueueApplyHandlesEveryType catches it.
			res.Err = fmt.Errorf("%w: %T is not handled by the queue group", ErrUnknownCommand, cmd)
		}
	}
	g.assignDirty(res)
	g.holdDeadLetters(res)
	g.cur = 0
	return res
}

// LastIndex is the Raft index of the last command applied.
func (g *QueueGroup) LastIndex() uint64 { return g.lastIndex }

// advanceClock moves the machine's clock to nowMs if that is later, and
// returns the clock. Commands without a time (0) use the clock as is; a
// leader whose clock is behind an earlier leader's never moves it back.
func (g *QueueGroup) advanceClock(nowMs int64) int64 {
	g.lastNow = max(g.lastNow, nowMs)
	return g.lastNow
}

// touch marks q for the assignment pass at the end of the command.
func (g *QueueGroup) touch(q *queueState) {
	if !q.dirty {
		q.dirty = true
		g.dirty = append(g.dirty, q)
	}
}

// assignDirty runs the assignment for every queue the command touched, in
// queue-id order. Queues it did not touch are already at a fixed point (no
// ready message or no consumer with credit), so skipping them gives the same
// result as visiting every queue.
func (g *QueueGroup) assignDirty(res *Result) {
	slices.SortFunc(g.dirty, func(a, b *queueState) int { return cmp.Compare(a.spec.GetId(), b.spec.GetId()) })
	for i, q := range g.dirty {
		q.dirty = false
		if !q.dropped {
			g.assign(q, res)
		}
		g.dirty[i] = nil
	}
	g.dirty = g.dirty[:0]
}

// errQueueDeleted is the error for a command on a dropped queue id.
func errQueueDeleted(id uint64) error {
	return fmt.Errorf("%w: queue %d was deleted", ErrNotFound, id)
}

// queueFor returns the state of the queue spec describes, creating it on
// first use. spec must be valid (ValidQueueSpec). A dropped id is ErrNotFound.
// The spec of an existing queue is never changed: specs are immutable and
// the meta group refuses a re-declaration with other properties.
func (g *QueueGroup) queueFor(spec *fsmpb.QueueSpec) (*queueState, error) {
	id := spec.GetId()
	if _, gone := g.tombstones[id]; gone {
		return nil, errQueueDeleted(id)
	}
	if q := g.queues[id]; q != nil {
		return q, nil
	}
	// A private copy: the command's spec belongs to the caller.
	q := newQueueState(proto.Clone(spec).(*fsmpb.QueueSpec))
	g.queues[id] = q
	if specHasFeatures(spec) {
		g.features = true
	}
	return q, nil
}

// addSessionRef records a consumer (tag) or the get-holder (tag "") of
// session on queue.
func (g *QueueGroup) addSessionRef(session string, queue uint64, tag string) {
	qs := g.sessions[session]
	if qs == nil {
		qs = make(map[uint64]map[string]struct{})
		g.sessions[session] = qs
	}
	tags := qs[queue]
	if tags == nil {
		tags = make(map[string]struct{})
		qs[queue] = tags
	}
	tags[tag] = struct{}{}
}

// dropSessionRef undoes addSessionRef.
func (g *QueueGroup) dropSessionRef(session string, queue uint64, tag string) {
	qs := g.sessions[session]
	tags := qs[queue]
	delete(tags, tag)
	if len(tags) == 0 {
		delete(qs, queue)
		if len(qs) == 0 {
			delete(g.sessions, session)
		}
	}
}

// sortedQueueIDs returns the ids of the live queues in increasing order.
func (g *QueueGroup) sortedQueueIDs() []uint64 {
	ids := make([]uint64, 0, len(g.queues))
	for id := range g.queues {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
