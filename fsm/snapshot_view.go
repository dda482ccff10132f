package fsm

import (
	"cmp"
	"io"
	"maps"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// QueueGroupSnapshot is a queue group's state frozen at a Capture: what
// WriteSnapshot would have written then, written later, from another
// goroutine, while the group goes on applying commands. Capture costs the
// structure of the state, not its messages: each list of ready messages is
// shared copy-on-write (deque.share: its list of blocks, one pointer per
// 1,024 messages, is copied; the blocks and the small rings are shared, and
// the group copies a ring, or leaves a popped slot as it is, rather than
// write where the view reads), and what is bounded otherwise is copied:
// consumers with their outstanding deliveries (each at most its prefetch,
// MaxPrefetch, or for a prefetch of 0 what it was given), get-holders with
// their gets, the dedup table (DedupMaxProducers), tombstones (one per
// queue dropped), the outbox and the delayed messages (one pointer each;
// their entries are never modified). Payloads are shared: nobody mutates
// them. Sorting and encoding happen in WriteSnapshot, without the lock.
type QueueGroupSnapshot struct {
	version      uint64
	lastIndex    uint64
	lastNow      int64
	features     bool
	tombstones   []uint64
	producers    []dedupProducer
	queues       []queueView
	nextOutboxID uint64
	nextDelayID  uint64
	outbox       []outboxEntry
	delayed      []*delayedEntry
	sorted       bool // every list in snapshot order (sort)
}

// queueView is one queue of a QueueGroupSnapshot.
type queueView struct {
	spec      *fsmpb.QueueSpec
	nextMsgID uint64
	usedAt    int64
	// ready are the lists of ready messages in service order
	// (queueState.readyDeques): returns and main FIFO alternately.
	ready     []deque[queueMsg]
	consumers []consumerView // in service order
	holders   []holderView
}

type consumerView struct {
	session, tag string
	prefetch     uint32
	autoAck      bool
	nextTag      uint64
	priority     int32
	timeoutMs    int64
	out          []taggedOut
}

type taggedOut struct {
	tag uint64
	m   outMsg
}

type holderView struct {
	session string
	nextTag uint64
	out     []taggedGet
}

type taggedGet struct {
	tag uint64
	g   getEntry
}

// Capture returns the state as it is now, for WriteSnapshot to write
// later, concurrently with Apply. It marks the ready lists as shared (a
// write): the caller holds the state exclusively, as for Apply.
func (g *QueueGroup) Capture() *QueueGroupSnapshot { return g.capture(true) }

// capture copies the state's structure; with share, the ready lists are
// shared copy-on-write, else merely aliased, for a view used at once
// under the caller's read lock (WriteSnapshot on the group itself), which
// must not write the state.
func (g *QueueGroup) capture(share bool) *QueueGroupSnapshot {
	s := &QueueGroupSnapshot{
		version: g.snapshotVersion(), lastIndex: g.lastIndex, lastNow: g.lastNow, features: g.features,
		tombstones:   slices.Collect(maps.Keys(g.tombstones)),
		producers:    g.dedup.copies(),
		queues:       make([]queueView, 0, len(g.queues)),
		nextOutboxID: g.nextOutboxID, nextDelayID: g.nextDelayID,
		outbox:  make([]outboxEntry, 0, len(g.outbox)),
		delayed: slices.Clone(g.delayed),
	}
	for _, q := range g.queues {
		v := queueView{spec: q.spec, nextMsgID: q.nextMsgID, usedAt: q.usedAt}
		for _, d := range q.readyDeques() {
			if share {
				v.ready = append(v.ready, d.share())
			} else {
				v.ready = append(v.ready, *d)
			}
		}
		for c := q.first; c != nil; c = c.next {
			cv := consumerView{
				session: c.session, tag: c.tag, prefetch: c.prefetch, autoAck: c.autoAck,
				nextTag: c.nextTag, priority: c.priority, timeoutMs: c.timeoutMs,
				out: make([]taggedOut, 0, len(c.out)),
			}
			for t, m := range c.out {
				cv.out = append(cv.out, taggedOut{t, m})
			}
			v.consumers = append(v.consumers, cv)
		}
		for _, h := range q.gets {
			hv := holderView{session: h.session, nextTag: h.nextTag, out: make([]taggedGet, 0, len(h.out))}
			for t, ge := range h.out {
				hv.out = append(hv.out, taggedGet{t, ge})
			}
			v.holders = append(v.holders, hv)
		}
		s.queues = append(s.queues, v)
	}
	for _, o := range g.outbox {
		s.outbox = append(s.outbox, *o)
	}
	return s
}

// sort puts what capture gathered in map order in snapshot order. Once.
func (s *QueueGroupSnapshot) sort() {
	if s.sorted {
		return
	}
	s.sorted = true
	slices.Sort(s.tombstones)
	sortProducers(s.producers)
	slices.SortFunc(s.queues, func(a, b queueView) int { return cmp.Compare(a.spec.GetId(), b.spec.GetId()) })
	for i := range s.queues {
		q := &s.queues[i]
		for j := range q.consumers {
			slices.SortFunc(q.consumers[j].out, func(a, b taggedOut) int { return cmp.Compare(a.tag, b.tag) })
		}
		slices.SortFunc(q.holders, func(a, b holderView) int { return cmp.Compare(a.session, b.session) })
		for j := range q.holders {
			slices.SortFunc(q.holders[j].out, func(a, b taggedGet) int { return cmp.Compare(a.tag, b.tag) })
		}
	}
	slices.SortFunc(s.outbox, func(a, b outboxEntry) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(s.delayed, func(a, b *delayedEntry) int {
		return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.id, b.id))
	})
}

// WriteSnapshot writes the state as it was at its Capture, byte for byte
// what the group's WriteSnapshot wrote then. It may run while the group
// applies commands, but not concurrently with another of its own calls.
func (s *QueueGroupSnapshot) WriteSnapshot(w io.Writer) error {
	return s.write(newQsWriter(w))
}

// WriteSnapshotFilled is WriteSnapshot with each payload written as fill
// returns it (QueueGroup.WriteSnapshotFilled).
func (s *QueueGroupSnapshot) WriteSnapshotFilled(w io.Writer, fill func(*fsmpb.Payload) (*fsmpb.Payload, error)) error {
	sw := newQsWriter(w)
	sw.fill = fill
	return s.write(sw)
}

// LastIndex is the group's LastIndex at the capture.
func (s *QueueGroupSnapshot) LastIndex() uint64 { return s.lastIndex }

// VisitBodyRefs is the group's VisitBodyRefs at the capture. It may run
// while the group applies commands, like WriteSnapshot.
func (s *QueueGroupSnapshot) VisitBodyRefs(fn func(r *fsmpb.BodyRef)) {
	var inline fsmpb.BodyRef
	visit := func(p *fsmpb.Payload) {
		if r := p.GetBodyRef(); r != nil && len(p.GetBody()) == 0 {
			fn(r)
		}
	}
	visitMsg := func(m *queueMsg) {
		if m.bodyRefInto(&inline) {
			fn(&inline)
		} else {
			visit(m.env)
		}
	}
	for i := range s.queues {
		q := &s.queues[i]
		for j := range q.ready {
			d := &q.ready[j]
			for k := range d.Len() {
				m := d.At(k)
				visitMsg(&m)
			}
		}
		for _, c := range q.consumers {
			for k := range c.out {
				visitMsg(&c.out[k].m.queueMsg)
			}
		}
		for _, h := range q.holders {
			for k := range h.out {
				visitMsg(&h.out[k].g.msg)
			}
		}
	}
	for i := range s.outbox {
		visit(s.outbox[i].dl.Payload)
	}
	for _, d := range s.delayed {
		visit(d.body)
	}
}
