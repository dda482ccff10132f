package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// At-least-once dead-lettering, the leader's side (the state's side is
// fsm/queue_outbox.go). The group's outbox holds the dead letters of
// at-least-once queues until a SettleDeadLetters removes them. While this
// node leads the group it publishes them — at once when a command adds
// some, and again every outboxRetryEvery while some stay (a dead-letter
// exchange that routes nowhere, a full target, a failed publish) — and
// settles each whose publish committed in every target it routes to. A new
// leader finds the outbox in the state and starts over; a dead letter
// whose publish committed but whose settle was lost is published again (at
// least once). The publishes carry no producer sequence: the outbox ids a
// target group sees are neither dense nor in order (other exchanges,
// other targets, retries), and a sequence older than the dedup window
// counts as a duplicate there, which would drop a dead letter unseen.
// Instead a publish that may be a second copy says so: it is delivered
// with redelivered set (Payload.redelivered), as RabbitMQ flags a message
// that may have been seen. That is every entry the outbox held when this
// node took the lead (a previous leader may have published it), and every
// entry whose earlier publish by this leader may have reached a queue: one
// that failed (a target may have committed it) or committed (its settle
// failed). An entry added under this leader is not flagged on its first
// publish, nor after publishes that routed it nowhere.

// outboxRetryEvery is how long a dead letter that could not be published
// waits before the next try.
const outboxRetryEvery = time.Second

// outboxState is the leader's bookkeeping of the outbox publisher.
type outboxState struct {
	mu       sync.Mutex
	running  bool      // a publish round is under way
	again    bool      // a kick came during the round: start another
	lastFail time.Time // when a round last left dead letters behind
	// inherited is the last outbox id when this node took the lead: an
	// entry up to it may have been published by an earlier leader.
	inherited uint64
	// attempted holds the ids this leader published that may have
	// reached a queue, of those still in the outbox at the last round.
	attempted map[uint64]bool
	kick      chan struct{}
	// delayKick asks the leader loop to re-arm its delay timer (a
	// DelayMessages applied).
	delayKick chan struct{}
}

// lead starts the outbox's bookkeeping of a leadership: the entries up to
// last (LastOutboxID) are inherited, and none was attempted yet.
func (o *outboxState) lead(last uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inherited, o.attempted = last, nil
}

// startRound forgets the attempts of entries no longer in the outbox (dls
// is what it holds now) and returns which may be in their queues already:
// inherited, or attempted by this leadership (attempt).
func (o *outboxState) startRound(dls []fsm.DeadLetter) (maybeSeen func(id uint64) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := make(map[uint64]bool)
	for _, dl := range dls {
		if o.attempted[dl.OutboxID] {
			kept[dl.OutboxID] = true
		}
	}
	o.attempted = kept
	inherited := o.inherited
	return func(id uint64) bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return id <= inherited || o.attempted[id]
	}
}

// attempt records that the entry id was published in a way that may have
// reached a queue.
func (o *outboxState) attempt(id uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.attempted == nil {
		o.attempted = map[uint64]bool{}
	}
	o.attempted[id] = true
}

// kickDelay asks the leader loop to re-arm its delay timer.
func (q *queueGroup) kickDelay() {
	select {
	case q.outbox.delayKick <- struct{}{}:
	default:
	}
}

// armDelay sets t to fire when the first delayed message is due (at once
// when it is), or in an hour when none waits (re-armed on the next
// DelayMessages or tick).
func (q *queueGroup) armDelay(t *time.Timer) {
	var due int64
	q.fsm.read(func(g *fsm.QueueGroup) { due = g.NextDelayDue() })
	if due == 0 {
		t.Reset(time.Hour)
		return
	}
	t.Reset(max(time.Until(time.UnixMilli(due)), 0))
}

// kickOutbox asks the leader loop to publish the outbox now.
func (q *queueGroup) kickOutbox() {
	select {
	case q.outbox.kick <- struct{}{}:
	default:
	}
}

// publishOutbox starts a publish round unless one runs (then it asks that
// one to go again). retry says whether this is the periodic retry, which
// waits outboxRetryEvery after a round that left dead letters behind.
func (q *queueGroup) publishOutbox(ctx context.Context, retry bool) {
	o := &q.outbox
	o.mu.Lock()
	if o.running {
		o.again = o.again || !retry
		o.mu.Unlock()
		return
	}
	if retry && time.Since(o.lastFail) < outboxRetryEvery {
		o.mu.Unlock()
		return
	}
	var n int
	q.fsm.read(func(g *fsm.QueueGroup) { n = g.OutboxLen() })
	if n == 0 {
		o.mu.Unlock()
		return
	}
	o.running = true
	o.mu.Unlock()
	q.b.wg.Add(1)
	go func() {
		defer q.b.wg.Done()
		for {
			left := q.outboxRound(ctx)
			o.mu.Lock()
			if left {
				o.lastFail = time.Now()
			}
			if !o.again || ctx.Err() != nil {
				o.running = false
				o.mu.Unlock()
				return
			}
			o.again = false
			o.mu.Unlock()
		}
	}()
}

// outboxRound publishes every dead letter in the outbox, one call per
// virtual host and exchange (an exchange that does not exist fails its
// call alone), settles those that committed (or that a dead-letter cycle
// drops), and reports whether any stayed.
func (q *queueGroup) outboxRound(ctx context.Context) (left bool) {
	var all []fsm.DeadLetter
	q.fsm.read(func(g *fsm.QueueGroup) { all = g.Outbox() })
	maybeSeen := q.outbox.startRound(all)
	// In slices of at most outboxSliceLen, so no publish call or settle
	// outgrows its limits.
	for len(all) > 0 && ctx.Err() == nil {
		n := min(len(all), outboxSliceLen)
		if q.outboxSlice(ctx, all[:n], maybeSeen) {
			left = true
		}
		all = all[n:]
	}
	return left
}

// outboxSliceLen is how many outbox entries a round publishes at once.
const outboxSliceLen = 1000

// outboxSlice publishes and settles dls (outboxRound), flagging those
// that maybeSeen names.
func (q *queueGroup) outboxSlice(ctx context.Context, dls []fsm.DeadLetter, maybeSeen func(id uint64) bool) (left bool) {
	// The entries are still in the state's outbox (they leave it once
	// settled below), so their bodies are still in the body store.
	for i := range dls {
		p, err := q.fill(dls[i].Payload)
		if err != nil {
			q.logger.Error("outbox: body store read failed; the entry stays in the outbox", "outbox_id", dls[i].OutboxID, "error", err)
			return true
		}
		dls[i].Payload = p
	}
	withDeaths := q.b.requireMetaVersion("x-death") == nil
	now := time.Now()
	type target struct{ vhost, exchange string }
	byTarget := map[target][]int{}
	var order []target
	for i, dl := range dls {
		k := target{dl.VHost, dl.Exchange}
		if _, ok := byTarget[k]; !ok {
			order = append(order, k)
		}
		byTarget[k] = append(byTarget[k], i)
	}
	var settled []uint64
	for _, k := range order {
		vhost, idx := k.vhost, byTarget[k]
		entries := make([]PublishEntry, len(idx))
		allDelayed := true
		for j, i := range idx {
			if dls[i].Delayed {
				// A delayed message now due: routed as published, and
				// dropped when it routes nowhere (as the plugin does).
				entries[j] = PublishEntry{Exchange: dls[i].Exchange, RoutingKey: dls[i].RoutingKey, Message: message(dls[i].Payload), due: true,
					outboxID: dls[i].OutboxID, redelivered: maybeSeen(dls[i].OutboxID)}
				continue
			}
			allDelayed = false
			e := deadLetterEntry(dls[i], now)
			if !withDeaths {
				delete(e.Message.Headers, "x-death")
			}
			e.Mandatory = true
			e.outboxID, e.redelivered = dls[i].OutboxID, maybeSeen(dls[i].OutboxID)
			entries[j] = e
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		outs, err := q.b.Publish(pctx, vhost, "", entries)
		cancel()
		if err != nil && allDelayed && errors.Is(err, fsm.ErrNotFound) {
			// The delayed exchange was deleted meanwhile: dropped.
			q.logger.Info("delayed messages dropped: their exchange is gone", "vhost", vhostName(vhost), "exchange", k.exchange, "count", len(entries))
			for _, e := range entries {
				settled = append(settled, e.outboxID)
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				q.logger.Debug("at-least-once dead letters not published yet", "vhost", vhostName(vhost), "exchange", k.exchange, "count", len(entries), "error", err)
			}
			// A target group may have committed them before the error.
			for _, e := range entries {
				q.outbox.attempt(e.outboxID)
			}
			left = true
			continue
		}
		for j, out := range outs {
			e := &entries[j]
			if out.Status != PublishUnroutable {
				q.outbox.attempt(e.outboxID)
			}
			switch {
			case e.due && out.Status != PublishRejected:
				settled = append(settled, e.outboxID)
			case out.Status == PublishConfirmed:
				settled = append(settled, e.outboxID)
			case out.Status == PublishUnroutable && len(e.deadLetter.dropped) > 0:
				// Every target closes a cycle with no rejection: dropped.
				q.logger.Warn("dead letter dropped for a dead-letter cycle with no rejection in it",
					"queue", dls[idx[j]].Queue, "vhost", vhostName(vhost), "targets", e.deadLetter.dropped)
				settled = append(settled, e.outboxID)
			default:
				left = true
			}
		}
	}
	for len(settled) > 0 {
		n := min(len(settled), fsm.MaxSettleDeadLetters)
		if _, err := q.run(ctx, &fsmpb.SettleDeadLetters{Ids: settled[:n]}); err != nil {
			q.logger.Debug("settling published dead letters failed; the next leader publishes them again", "error", err)
			return true
		}
		settled = settled[n:]
	}
	return left
}
