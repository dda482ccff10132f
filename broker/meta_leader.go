package broker

import (
	"context"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// onMetaLeadership runs on the meta group's monitor goroutine. While this
// node leads the meta group, it deletes the exclusive queues of sessions
// that no node serves any more (their client went away, or their node
// died): first after the grace period that lets sessions re-attach after
// a restart or leader change, then every sessionCheckEvery.
func (b *Broker) onMetaLeadership(isLeader bool) {
	if !isLeader {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		select {
		case <-b.ctx.Done():
			return
		case <-b.opened:
		}
		b.bootstrapWhileLeader()
		t := time.NewTimer(b.cfg.SessionGrace)
		defer t.Stop()
		for {
			select {
			case <-b.ctx.Done():
				return
			case <-t.C:
			}
			if !b.meta.IsLeader() {
				return
			}
			b.deleteOrphanExclusiveQueues()
			t.Reset(sessionCheckEvery)
		}
	}()
}

// bootstrapWhileLeader creates the first user of a fresh cluster, trying
// again while this node leads and it is not done (a proposal can fail
// while the leadership settles).
func (b *Broker) bootstrapWhileLeader() {
	for b.meta.IsLeader() {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		done := b.bootstrapUsers(ctx)
		cancel()
		if done {
			return
		}
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deleteOrphanExclusiveQueues deletes the exclusive queues whose owning
// session no node serves.
func (b *Broker) deleteOrphanExclusiveQueues() {
	var owners []string
	b.readMeta(func(m *fsm.Meta) { owners = m.ExclusiveOwners() })
	if len(owners) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	gone, err := b.goneSessions(ctx, owners)
	if err != nil {
		b.logger.Debug("not deleting exclusive queues of absent sessions yet", "group", metaGroupName, "sessions", owners, "error", err)
		return
	}
	if len(gone) > 0 {
		b.downMetaSessions(ctx, gone)
	}
}
