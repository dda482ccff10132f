package fsm

import (
	"container/heap"
	"fmt"
	"math"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// Delayed messages (an exchange of kind x-delayed-message, as RabbitMQ's
// delayed-message plugin): DelayMessages puts each in the group's one
// ordered index, a min-heap by (due time, id), and the Tick at or after its
// due time moves it to the outbox (queue_outbox.go), from which the leader
// routes it through its exchange and settles it. Nothing runs per message
// until it is due: the leader arms one timer for the heap's head
// (NextDelayDue). The index and the outbox are replicated, so a message is
// routed once due whatever restarts or leader changes come between (at
// least once: a routing that committed but whose settle was lost is done
// again).

// delayedEntry is one message waiting for its due time.
type delayedEntry struct {
	due   int64
	id    uint64
	vhost string
	body  *fsmpb.Payload
}

// delayHeap orders delayed entries by due time, then id: a total order, so
// the heap's layout and what a Tick releases are alike on every replica.
type delayHeap []*delayedEntry

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].id < h[j].id
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(*delayedEntry)) }
func (h *delayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// MaxDelayMessages bounds the messages of one DelayMessages.
const MaxDelayMessages = 10000

func (g *QueueGroup) applyDelayMessages(b *fsmpb.DelayMessages, res *Result) {
	msgs := b.GetMessages()
	if len(msgs) > MaxDelayMessages {
		res.Err = fmt.Errorf("%w: delay messages holds %d messages; the limit is %d", ErrInvalid, len(msgs), MaxDelayMessages)
		return
	}
	for i, m := range msgs {
		if err := ValidPayload(m.GetPayload()); err != nil {
			res.Err = fmt.Errorf("delay messages: message %d: %w", i, err)
			return
		}
		if err := validVHostField(m.GetVhost()); err != nil {
			res.Err = fmt.Errorf("delay messages: message %d: %w", i, err)
			return
		}
		if err := validText("producer id", m.GetProducerId(), MaxSessionIDBytes, true); err != nil {
			res.Err = fmt.Errorf("delay messages: message %d: %w", i, err)
			return
		}
	}
	now := g.advanceClock(b.GetNowMs())
	for _, m := range msgs {
		// A publish sent again (its sequence seen) is stored once, as an
		// Enqueue deduplicates one, in the same table of producers.
		producer, seq := m.GetProducerId(), m.GetSequence()
		dedup := producer != "" && seq > 0
		if dedup && g.dedup.seen(producer, seq) {
			g.dedup.record(producer, seq, g.cur)
			continue
		}
		if dedup {
			g.dedup.record(producer, seq, g.cur)
		}
		d := max(m.GetDelayMs(), 0)
		due := now + d
		if now > math.MaxInt64-d {
			due = math.MaxInt64
		}
		g.nextDelayID++
		heap.Push(&g.delayed, &delayedEntry{due: due, id: g.nextDelayID, vhost: m.GetVhost(), body: m.GetPayload()})
	}
}

// releaseDue moves the delayed messages due at now to the outbox, in
// (due, id) order.
func (g *QueueGroup) releaseDue(now int64, res *Result) {
	for len(g.delayed) > 0 && g.delayed[0].due <= now {
		e := heap.Pop(&g.delayed).(*delayedEntry)
		g.nextOutboxID++
		p := e.body
		g.addOutbox(nil, &outboxEntry{id: g.nextOutboxID, dl: DeadLetter{
			VHost: e.vhost, Exchange: p.GetExchange(), RoutingKey: p.GetRoutingKey(), Payload: p, OutboxID: g.nextOutboxID, Delayed: true,
		}})
		res.Outboxed++
	}
}

// NextDelayDue is the due time of the first delayed message (Unix ms), 0
// when none waits. O(1): the leader arms its one timer with it.
func (g *QueueGroup) NextDelayDue() int64 {
	if len(g.delayed) == 0 {
		return 0
	}
	return max(g.delayed[0].due, 1)
}

// DelayedLen is the number of delayed messages not yet due.
func (g *QueueGroup) DelayedLen() int { return len(g.delayed) }

// validVHostField checks a record's vhost field ("" is the default).
func validVHostField(v string) error {
	if v == "" {
		return nil
	}
	return validVHost(v)
}
