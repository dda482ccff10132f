package cluster

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
func (n *Node) onMetaLeadership(isLeader bool) {
	if !isLeader {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-n.ctx.Done():
			return
		case <-n.metaOpened:
		}
		t := time.NewTimer(n.cfg.SessionGrace)
		defer t.Stop()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			}
			if !n.meta.IsLeader() {
				return
			}
			n.deleteOrphanExclusiveQueues()
			t.Reset(sessionCheckEvery)
		}
	}()
}

// deleteOrphanExclusiveQueues deletes the exclusive queues whose owning
// session no node serves.
func (n *Node) deleteOrphanExclusiveQueues() {
	var owners []string
	n.readMeta(func(m *fsm.Meta) { owners = m.ExclusiveOwners() })
	if len(owners) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	gone, err := n.goneSessions(ctx, owners)
	if err != nil {
		n.logger.Debug("not deleting exclusive queues of absent sessions yet", "error", err)
		return
	}
	if len(gone) > 0 {
		n.downMetaSessions(ctx, gone)
	}
}
