package broker

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// Delayed delivery (an exchange of kind x-delayed-message, as RabbitMQ's
// delayed-message plugin). A message published to such an exchange with an
// integer x-delay header > 0 is not routed now: it goes, in a
// DelayMessages command, to the queue group chosen by the exchange's name,
// whose state keeps it in its ordered index (fsm/queue_delay.go) until it
// is due. That group's leader arms one timer for the index's head and
// proposes a Tick when it fires; the Tick moves what is due to the outbox,
// which the leader routes through the exchange (deadletter_outbox.go) as
// the message was published, x-delay header included. A message due
// while no leader serves goes as soon as one does. What routes nowhere
// when due is dropped, as the plugin drops it (mandatory cannot tell, as
// with the plugin: the publish is confirmed when the delay is stored).

// delayOf is the delay an x-delay header asks for, in ms; 0 for none (no
// header, not an integer, or ≤ 0: routed now, as the plugin does).
func delayOf(m *Message) int64 {
	if v, ok := m.Headers["x-delay"]; ok && v.Type == ValueInt && v.Int > 0 {
		return v.Int
	}
	return 0
}

// delayedIndexes lists the entries to delay: to a delayed exchange, with
// a delay, and not a due message being routed. An exchange this node does
// not know yet makes it catch up with the meta leader first, so a
// publish right after the declaration through another node is delayed
// too.
func (b *Broker) delayedIndexes(ctx context.Context, vhost string, entries []PublishEntry) []int {
	candidate := false
	for i := range entries {
		if !entries[i].due && delayOf(&entries[i].Message) > 0 {
			candidate = true
			break
		}
	}
	if !candidate {
		return nil
	}
	var idx []int
	scan := func() (unknown bool) {
		idx = idx[:0]
		b.readMeta(func(m *fsm.Meta) {
			for i := range entries {
				e := &entries[i]
				if e.due || delayOf(&e.Message) == 0 {
					continue
				}
				d, ok := m.Exchange(vhostName(vhost), e.Exchange)
				unknown = unknown || !ok
				// An internal one refuses the publish in routing.
				if ok && d.Delayed && !d.Internal {
					idx = append(idx, i)
				}
			}
		})
		return unknown
	}
	if scan() && b.catchUpMeta(ctx) == nil {
		scan()
	}
	return idx
}

// delayBatchBytes bounds one DelayMessages, as maxBatchBytes bounds a
// group-commit Enqueue.
const delayBatchBytes = maxBatchBytes

// delayGroup is the queue group that keeps the delayed messages of an
// exchange: a function of its name, the same on every node.
func delayGroup(vhost, exchange string, groups int) int {
	h := fnv.New32a()
	h.Write([]byte(vhostName(vhost)))
	h.Write([]byte{0})
	h.Write([]byte(exchange))
	return int(h.Sum32() % uint32(groups))
}

// publishDelayed publishes entries of which those at idx are delayed: the
// others as any publish, the delayed ones stored in their exchanges'
// groups (confirmed once stored).
func (b *Broker) publishDelayed(ctx context.Context, vhost, publisherID string, entries []PublishEntry, idx []int) ([]PublishOutcome, error) {
	outcomes := make([]PublishOutcome, len(entries))
	delayed := make(map[int]bool, len(idx))
	for _, i := range idx {
		delayed[i] = true
	}
	var rest []PublishEntry
	var restIdx []int
	for i := range entries {
		if !delayed[i] {
			rest = append(rest, entries[i])
			restIdx = append(restIdx, i)
		}
	}
	// Per group, commands of at most delayBatchBytes (one message each
	// when larger), as group commit bounds an Enqueue.
	byGroup := map[int][]*fsmpb.DelayMessages{}
	sizes := map[int]int{}
	now := nowMs()
	for _, i := range idx {
		g := delayGroup(vhost, entries[i].Exchange, len(b.queues))
		m := &fsmpb.DelayedMessage{Vhost: logVHost(vhostName(vhost)), Payload: logPayload(&entries[i]), DelayMs: delayOf(&entries[i].Message)}
		if entries[i].Sequence > 0 && b.queues[g].dedupFlags.ok() {
			// A resend (the SDK's, after a leader that did not answer) is
			// stored once, as an Enqueue's is.
			m.ProducerId, m.Sequence = publisherID, entries[i].Sequence
		}
		n := entrySize(m)
		cmds := byGroup[g]
		if len(cmds) == 0 || sizes[g]+n > delayBatchBytes {
			cmds = append(cmds, &fsmpb.DelayMessages{NowMs: now})
			byGroup[g], sizes[g] = cmds, 0
		}
		cmds[len(cmds)-1].Messages = append(cmds[len(cmds)-1].Messages, m)
		sizes[g] += n
	}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		for _, cmd := range byGroup[g] {
			if _, err := b.queues[g].run(ctx, cmd); err != nil {
				return nil, err
			}
		}
	}
	for _, i := range idx {
		outcomes[i].Status = PublishConfirmed
	}
	if len(rest) > 0 {
		outs, err := b.Publish(ctx, vhost, publisherID, rest)
		if err != nil {
			return nil, err
		}
		for j, o := range outs {
			outcomes[restIdx[j]] = o
		}
	}
	return outcomes, nil
}
