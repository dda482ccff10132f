package fsm

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// msgKey names one message of one queue.
type msgKey struct{ queue, id uint64 }

// msgLoc is where a message is: "ready", "c:session/tag#n" or "g:session#n".
type msgLoc struct {
	where string
	count uint32
}

// locate walks the whole state and returns where every message with a body
// is. It fails when a message is in two places: the first half of the
// "exactly one place" invariant. (Auto-ack deliveries have no body: their
// messages are gone.)
func locate(t *rapid.T, g *QueueGroup) map[msgKey]msgLoc {
	locs := make(map[msgKey]msgLoc)
	put := func(q uint64, m queueMsg, where string) {
		k := msgKey{q, m.id}
		if old, dup := locs[k]; dup {
			t.Fatalf("message %v is both %s and %s", k, old.where, where)
		}
		if m.id >= g.queues[q].nextMsgID {
			t.Fatalf("message %v at %s has an id not yet handed out", k, where)
		}
		locs[k] = msgLoc{where, m.count}
	}
	for id, q := range g.queues {
		for _, d := range q.readyDeques() {
			for i := range d.Len() {
				put(id, d.At(i), "ready")
			}
		}
		for c := q.first; c != nil; c = c.next {
			if c.autoAck {
				continue
			}
			for tag, m := range c.out {
				put(id, m.queueMsg, fmt.Sprintf("c:%s/%s#%d", c.session, c.tag, tag))
			}
		}
		for s, h := range q.gets {
			for tag, e := range h.out {
				put(id, e.msg, fmt.Sprintf("g:%s#%d", s, tag))
			}
		}
	}
	return locs
}

type propConsumer struct {
	queue        uint64
	session, tag string
}

// propModel is what the test remembers across commands.
type propModel struct {
	gone      map[msgKey]bool         // messages that left the queues for good
	nextID    map[uint64]uint64       // per queue, the next message id seen
	lastTag   map[propConsumer]uint64 // per consumer, the highest tag delivered
	published map[string]bool         // "producer/seq" already enqueued or delayed
	delayed   int                     // delayed messages after the previous command
	dropped   map[uint64]bool         // tombstoned queue ids
	specs     []*fsmpb.QueueSpec      // the queues the test uses (plus id 4)
	locs      map[msgKey]msgLoc       // locations after the previous command
}

// TestQueueGroupProperties applies random command sequences and checks,
// after every command: the invariants of the machine against a model;
// that a replica fed the same log and a machine restored from the previous
// snapshot give the same results and snapshots; and that snapshot → restore
// → snapshot is byte-identical.
func TestQueueGroupProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		specs := []*fsmpb.QueueSpec{drawSpec(t, 1), drawSpec(t, 2), drawSpec(t, 3), qspec(4, "q4")}
		m := &propModel{
			gone: map[msgKey]bool{}, nextID: map[uint64]uint64{}, lastTag: map[propConsumer]uint64{},
			published: map[string]bool{}, dropped: map[uint64]bool{}, specs: specs,
			locs: map[msgKey]msgLoc{},
		}
		g, replica := NewQueueGroup(), NewQueueGroup()
		// The same commands with their bodies moved out as a body store's
		// adapter does: held inline, and held whole (the reference).
		disk, diskWhole := NewQueueGroup(), NewQueueGroup()
		diskWhole.wholePayloads = true
		now := int64(1000)
		for i := range rapid.IntRange(1, 80).Draw(t, "commands") {
			idx := uint64(i + 1)
			snap := propSnapshot(t, g)
			restored, err := RestoreQueueGroup(bytes.NewReader(snap))
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if again := propSnapshot(t, restored); !bytes.Equal(again, snap) {
				t.Fatal("snapshot → restore → snapshot is not byte-identical")
			}

			before := propSnapshotAt(t, g, idx)
			cmd := drawCommand(t, g, specs, &now)
			res := g.Apply(idx, cmd)
			if res.Err != nil && !bytes.Equal(before, propSnapshot(t, g)) {
				t.Fatalf("command %d (%T) was refused (%v) but changed the state", i, cmd, res.Err)
			}
			for name, other := range map[string]*QueueGroup{"main": g, "restored": restored} {
				if err := checkSessionIndex(other); err != nil {
					t.Fatalf("%s, before command %d: %v", name, i, err)
				}
				if err := checkOutbox(other); err != nil {
					t.Fatalf("%s, before command %d: %v", name, i, err)
				}
			}
			for name, other := range map[string]*QueueGroup{"replica": replica, "restored": restored} {
				o := other.Apply(idx, cmd)
				if a, b := normalize(res), normalize(o); !reflect.DeepEqual(a, b) {
					t.Fatalf("command %d (%T): %s result differs\n main %+v\n %s %+v", i, cmd, name, a, name, b)
				}
			}
			m.check(t, g, cmd, res)
			checkInlineBodies(t, idx, cmd, disk, diskWhole)
			after := propSnapshot(t, g)
			if !bytes.Equal(after, propSnapshot(t, replica)) {
				t.Fatal("replica snapshot differs")
			}
			if !bytes.Equal(after, propSnapshot(t, restored)) {
				t.Fatal("restored machine's snapshot differs")
			}
		}
	})
}

// checkInlineBodies applies cmd at idx, with its bodies moved out, to
// disk (which holds queued payloads inline) and diskWhole (which holds
// them as they are): results, snapshots and body references must be
// identical, and disk's snapshot must restore to the same state.
func checkInlineBodies(t *rapid.T, idx uint64, cmd proto.Message, disk, diskWhole *QueueGroup) {
	moved := proto.Clone(cmd)
	moveBodiesOut(idx, moved)
	a, b := disk.Apply(idx, moved), diskWhole.Apply(idx, moved)
	if na, nb := normalize(a), normalize(b); !reflect.DeepEqual(na, nb) {
		t.Fatalf("%T: result with payloads inline differs\n inline %+v\n whole  %+v", cmd, na, nb)
	}
	snap := propSnapshot(t, disk)
	if !bytes.Equal(snap, propSnapshot(t, diskWhole)) {
		t.Fatal("snapshot with payloads inline differs from the one with payloads whole")
	}
	restored, err := RestoreQueueGroup(bytes.NewReader(snap))
	if err != nil {
		t.Fatalf("restore with payloads inline: %v", err)
	}
	if !bytes.Equal(snap, propSnapshot(t, restored)) {
		t.Fatal("snapshot → restore → snapshot with payloads inline is not byte-identical")
	}
	if ra, rb := bodyRefList(disk), bodyRefList(diskWhole); !slices.Equal(ra, rb) {
		t.Fatalf("body references inline %v, whole %v", ra, rb)
	}
}

// bodyRefList is what VisitBodyRefs lists, sorted.
func bodyRefList(g *QueueGroup) []string {
	var out []string
	g.VisitBodyRefs(func(r *fsmpb.BodyRef) {
		out = append(out, fmt.Sprint(r.GetIndex(), "/", r.GetPosition(), "/", r.GetLength()))
	})
	slices.Sort(out)
	return out
}

// propSnapshotAt is propSnapshot with LastIndex raised to index, as Apply
// at index raises it first.
func propSnapshotAt(t *rapid.T, g *QueueGroup, index uint64) []byte {
	saved := g.lastIndex
	g.lastIndex = max(saved, index)
	defer func() { g.lastIndex = saved }()
	return propSnapshot(t, g)
}

func propSnapshot(t *rapid.T, g *QueueGroup) []byte {
	var buf bytes.Buffer
	if err := g.WriteSnapshot(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return buf.Bytes()
}

// check verifies the invariants after cmd produced res, and updates the
// model.
func (m *propModel) check(t *rapid.T, g *QueueGroup, cmd proto.Message, res *Result) {
	before := m.locs
	locs := locate(t, g)
	prevNext := maps.Clone(m.nextID)
	delayedBefore := m.delayed
	m.delayed = g.DelayedLen()

	// Exactly one place: a message is present once (locate) or gone, and
	// what is gone never comes back.
	for k, l := range locs {
		if m.gone[k] {
			t.Fatalf("message %v came back (%s)", k, l.where)
		}
		if _, was := before[k]; !was && k.id < prevNext[k.queue] {
			t.Fatalf("message %v appeared at %s without being enqueued", k, l.where)
		}
	}
	for k := range before {
		if _, ok := locs[k]; !ok {
			m.gone[k] = true
		}
	}
	for id := range m.nextID {
		if g.queues[id] == nil {
			delete(m.nextID, id)
		}
	}
	for id, q := range g.queues {
		for n := prevNext[id]; n < q.nextMsgID; n++ {
			if _, ok := locs[msgKey{id, n}]; !ok {
				m.gone[msgKey{id, n}] = true // enqueued and gone in one command
			}
		}
		m.nextID[id] = q.nextMsgID
	}

	if res.Err != nil {
		if !reflect.DeepEqual(locs, before) {
			t.Fatalf("refused command (%v) changed the messages", res.Err)
		}
	}

	for id, q := range g.queues {
		// No consumer over its prefetch; and the assignment reached its
		// fixed point: no ready message while a consumer has credit.
		credit := false
		sac := q.spec.GetSingleActiveConsumer()
		if sac && q.active != q.pickActive() {
			t.Fatalf("queue %d: active consumer %v, want %v", id, q.active, q.pickActive())
		}
		for c := q.first; c != nil; c = c.next {
			if c.prefetch > 0 && len(c.out) > int(c.prefetch) {
				t.Fatalf("consumer %s/%s has %d out, prefetch %d", c.session, c.tag, len(c.out), c.prefetch)
			}
			low := c.nextTag
			for tag := range c.out {
				low = min(low, tag)
			}
			if c.low != low {
				t.Fatalf("consumer %s/%s: low %d, lowest outstanding %d", c.session, c.tag, c.low, low)
			}
			if !sac || c == q.active {
				credit = credit || c.hasCredit()
			}
		}
		if credit && q.readyLen() > 0 {
			t.Fatalf("queue %d: %d ready while a consumer has credit", id, q.readyLen())
		}
		var bytes uint64
		for _, d := range q.readyDeques() {
			for i := range d.Len() {
				bytes += uint64(d.At(i).size)
			}
		}
		if q.levels != nil {
			n := 0
			for p := range q.levels {
				l := q.levels[p].returns.Len() + q.levels[p].main.Len()
				n += l
				if (l > 0) != (q.nonEmpty[p/64]&(1<<(p%64)) != 0) {
					t.Fatalf("queue %d: level %d holds %d, bit %t", id, p, l, l == 0)
				}
				for _, d := range []*deque[queueMsg]{&q.levels[p].returns, &q.levels[p].main} {
					for i := range d.Len() {
						m := d.At(i)
						if l := q.level(&m); l != p {
							t.Fatalf("queue %d: message of priority level %d at level %d", id, l, p)
						}
					}
				}
			}
			if n != q.prioReady || q.returns.Len()+q.main.Len() != 0 {
				t.Fatalf("queue %d: %d in levels, counted %d; %d outside", id, n, q.prioReady, q.returns.Len()+q.main.Len())
			}
		}
		if bytes != q.readyBytes {
			t.Fatalf("queue %d: ready bytes %d, counted %d", id, q.readyBytes, bytes)
		}
	}

	// Deliveries match the state, with increasing tags per consumer.
	for _, d := range res.Deliveries {
		q := g.queues[d.Queue]
		c := q.consumers[consumerKey{d.Session, d.ConsumerTag}]
		if c == nil {
			t.Fatalf("delivery %+v to a consumer that does not exist", d)
		}
		if q.spec.GetSingleActiveConsumer() && c != q.active {
			t.Fatalf("delivery %s to a consumer that is not the active one of its single-active-consumer queue", dstr(d))
		}
		if _, ok := c.out[d.Tag]; !ok {
			t.Fatalf("delivery %s not outstanding", dstr(d))
		}
		k := msgKey{d.Queue, d.MsgID}
		want := fmt.Sprintf("c:%s/%s#%d", d.Session, d.ConsumerTag, d.Tag)
		if l, ok := locs[k]; c.autoAck == ok || (ok && l.where != want) {
			t.Fatalf("delivery %s: message at %+v (auto-ack %t)", want, l, c.autoAck)
		}
		ck := propConsumer{d.Queue, d.Session, d.ConsumerTag}
		if d.Tag <= m.lastTag[ck] {
			t.Fatalf("delivery tag %d after %d for %+v", d.Tag, m.lastTag[ck], ck)
		}
		m.lastTag[ck] = d.Tag
	}
	for ck := range m.lastTag {
		if q := g.queues[ck.queue]; q == nil || q.consumers[consumerKey{ck.session, ck.tag}] == nil {
			delete(m.lastTag, ck) // a new consumer under that key starts again
		}
	}

	if res.Err != nil {
		// Refused: nothing changed (checked above), so no postcondition of
		// the command holds.
		m.locs = locs
		return
	}
	switch b := cmd.(type) {
	case *fsmpb.Enqueue:
		if res.Err == nil {
			m.checkEnqueue(t, g, b, res, prevNext)
		}
	case *fsmpb.DelayMessages:
		m.checkDelayed(t, g, b, delayedBefore)
	case *fsmpb.Settle:
		m.checkSettled(t, b.GetItems(), before, locs, func(k msgKey, l msgLoc, now msgLoc, present bool) {
			if present {
				t.Fatalf("settled message %v is still at %s", k, now.where)
			}
		})
	case *fsmpb.Discard:
		m.checkSettled(t, b.GetItems(), before, locs, func(k msgKey, l msgLoc, now msgLoc, present bool) {
			if present {
				t.Fatalf("discarded message %v is still at %s", k, now.where)
			}
		})
	case *fsmpb.Return:
		m.checkSettled(t, b.GetItems(), before, locs, func(k msgKey, l msgLoc, now msgLoc, present bool) {
			if present && (now.where == l.where || now.count != l.count+1) {
				t.Fatalf("returned message %v: was %+v, now %+v", k, l, now)
			}
		})
	case *fsmpb.SessionDown:
		for _, s := range b.GetSessions() {
			if slices.Contains(g.Sessions(), s) || len(g.CheckedOut(s)) > 0 {
				t.Fatalf("session %q still holds something after going down", s)
			}
		}
	case *fsmpb.Purge:
		if q := g.queues[b.GetQueue()]; q != nil && q.readyLen() != 0 {
			t.Fatalf("queue %d has %d ready after a purge", b.GetQueue(), q.readyLen())
		}
	case *fsmpb.DropQueue:
		m.dropped[b.GetQueue()] = true
		if g.queues[b.GetQueue()] != nil {
			t.Fatalf("queue %d survived its drop", b.GetQueue())
		}
	case *fsmpb.Get:
		if res.Err == nil {
			q := g.queues[b.GetQueue().GetId()]
			if res.Count != uint64(q.readyLen()) {
				t.Fatalf("get count %d, ready %d", res.Count, q.readyLen())
			}
			if d := res.Got; d != nil {
				l, ok := locs[msgKey{d.Queue, d.MsgID}]
				if b.GetAutoAck() == ok || (ok && l.where != fmt.Sprintf("g:%s#%d", d.Session, d.Tag)) {
					t.Fatalf("got %s, message at %+v", dstr(*d), l)
				}
			}
		}
	case *fsmpb.Tick:
		listed := map[uint64]bool{}
		for _, e := range res.ExpiredQueues {
			listed[e.ID] = true
		}
		for id, q := range g.queues {
			for c := q.first; c != nil; c = c.next {
				if due := c.timeoutDeadline(); due != 0 && due <= g.lastNow {
					t.Fatalf("queue %d: consumer %s/%s past its timeout (%d) after a tick at %d", id, c.session, c.tag, due, g.lastNow)
				}
			}
			if due := q.expiryDeadline(); (due != 0 && due <= g.lastNow) != listed[id] {
				t.Fatalf("queue %d: expiry deadline %d at %d, listed as expired %t", id, due, g.lastNow, listed[id])
			}
			for _, dq := range q.readyDeques() {
				if h, ok := dq.Front(); ok && h.expiry != 0 && h.expiry <= g.lastNow {
					t.Fatalf("queue %d: expired head after a tick (expiry %d, now %d, count %d, res %+v)", id, h.expiry, g.lastNow, h.count, res)
				}
			}
			for _, h := range q.gets {
				for _, e := range h.out {
					if e.lease != 0 && e.lease <= g.lastNow {
						t.Fatalf("queue %d: get lease %d ended at %d but held", id, e.lease, g.lastNow)
					}
				}
			}
		}
	}
	m.locs = locs
}

// checkSettled calls f for every real (message-carrying) tag of items as it
// was before the command.
func (m *propModel) checkSettled(t *rapid.T, items []*fsmpb.ConsumerTags, before, after map[msgKey]msgLoc, f func(msgKey, msgLoc, msgLoc, bool)) {
	for _, it := range items {
		for _, tag := range it.GetTags() {
			var where string
			if it.GetConsumerTag() == "" {
				where = fmt.Sprintf("g:%s#%d", it.GetSession(), tag)
			} else {
				where = fmt.Sprintf("c:%s/%s#%d", it.GetSession(), it.GetConsumerTag(), tag)
			}
			for k, l := range before {
				if k.queue == it.GetQueue() && l.where == where {
					now, ok := after[k]
					f(k, l, now, ok)
				}
			}
		}
	}
}

// checkDelayed checks that the delayed messages stored are those the
// model's deduplication lets through (the table Enqueues use), and records
// their sequences.
func (m *propModel) checkDelayed(t *rapid.T, g *QueueGroup, b *fsmpb.DelayMessages, before int) {
	stored := 0
	for _, msg := range b.GetMessages() {
		key := fmt.Sprintf("%s/%d", msg.GetProducerId(), msg.GetSequence())
		dedup := msg.GetProducerId() != "" && msg.GetSequence() > 0
		if dedup && m.published[key] {
			continue
		}
		if dedup {
			m.published[key] = true
		}
		stored++
	}
	if got := g.DelayedLen() - before; got != stored {
		t.Fatalf("delay messages: %d stored, want %d", got, stored)
	}
}

// checkEnqueue checks outcomes against the model's deduplication and
// tombstones, and the number of messages each queue received.
func (m *propModel) checkEnqueue(t *rapid.T, g *QueueGroup, b *fsmpb.Enqueue, res *Result, prevNext map[uint64]uint64) {
	want := map[uint64]uint64{}
	for i, msg := range b.GetMessages() {
		key := fmt.Sprintf("%s/%d", msg.GetProducerId(), msg.GetSequence())
		dedup := msg.GetProducerId() != "" && msg.GetSequence() > 0
		got := res.Enqueued[i].Status
		if dedup && m.published[key] {
			if got != EnqueueDuplicate {
				t.Fatalf("message %d (%s): outcome %d, want duplicate", i, key, got)
			}
			continue
		}
		if got == EnqueueDuplicate {
			t.Fatalf("message %d (%s): duplicate, never published", i, key)
		}
		if dedup {
			m.published[key] = true
		}
		noQueue := false
		seen := map[uint64]bool{}
		for _, r := range msg.GetQueueRefs() {
			id := b.GetQueues()[r].GetId()
			if seen[id] {
				continue
			}
			seen[id] = true
			if m.dropped[id] {
				noQueue = true
				continue
			}
			want[id]++
		}
		if noQueue != (got == EnqueueNoQueue) {
			t.Fatalf("message %d: outcome %d, no-queue %t", i, got, noQueue)
		}
	}
	for id, n := range want {
		q := g.queues[id]
		got := q.nextMsgID - prevNext[id]
		if q.spec.GetOverflow() == fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH {
			if got > n {
				t.Fatalf("queue %d received %d of %d", id, got, n)
			}
		} else if got != n {
			t.Fatalf("queue %d received %d, want %d", id, got, n)
		}
	}
}

// checkOutbox checks the outbox against its per-queue index: every entry
// is listed by its (existing, at-least-once) queue with its size, and
// nothing else is; every id is at most the last one given; every dead
// letter of an at-least-once queue in a Result has an id.
func checkOutbox(g *QueueGroup) error {
	perQueue := map[uint64]map[uint64]struct{}{}
	bytes := map[uint64]uint64{}
	for id, e := range g.outbox {
		q := g.queues[e.dl.QueueID]
		if e.dl.Delayed {
			if e.dl.QueueID != 0 {
				return fmt.Errorf("delayed outbox entry %d has queue %d", id, e.dl.QueueID)
			}
			if id != e.id || id != e.dl.OutboxID || id > g.nextOutboxID {
				return fmt.Errorf("outbox entry %d has ids %d/%d (next %d)", id, e.id, e.dl.OutboxID, g.nextOutboxID)
			}
			continue
		}
		if q == nil {
			return fmt.Errorf("outbox entry %d of missing queue %d", id, e.dl.QueueID)
		}
		if id != e.id || id != e.dl.OutboxID || id > g.nextOutboxID {
			return fmt.Errorf("outbox entry %d has ids %d/%d (next %d)", id, e.id, e.dl.OutboxID, g.nextOutboxID)
		}
		if perQueue[e.dl.QueueID] == nil {
			perQueue[e.dl.QueueID] = map[uint64]struct{}{}
		}
		perQueue[e.dl.QueueID][id] = struct{}{}
		bytes[e.dl.QueueID] += e.size
	}
	for qid, q := range g.queues {
		if len(q.outbox) != len(perQueue[qid]) || q.outboxBytes != bytes[qid] {
			return fmt.Errorf("queue %d lists %d outbox entries (%d bytes), the outbox %d (%d bytes)", qid, len(q.outbox), q.outboxBytes, len(perQueue[qid]), bytes[qid])
		}
		for id := range q.outbox {
			if _, ok := perQueue[qid][id]; !ok {
				return fmt.Errorf("queue %d lists outbox entry %d, not in the outbox", qid, id)
			}
		}
	}
	return nil
}
