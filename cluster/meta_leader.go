package cluster

import (
	"context"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// onMetaLeadership runs on the meta group's monitor goroutine. A new meta
// leader of a single-node cluster deletes, after the grace period, the
// exclusive queues of sessions that are not live here (their owners are
// gone: the node restarted). In a multi-node cluster it does not: owners may
// be connected to other nodes (cluster-wide session liveness is future work).
func (n *Node) onMetaLeadership(isLeader bool) {
	if !isLeader {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(n.cfg.SessionGrace)
		defer t.Stop()
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		select {
		case <-n.ctx.Done():
			return
		case <-n.metaOpened:
		}
		if !n.meta.IsLeader() {
			return
		}
		if servers, err := n.meta.Configuration(); err != nil || len(servers) > 1 {
			// Sessions may be live on other nodes, which this node cannot
			// see yet: deleting their exclusive queues would be wrong.
			// Only a single node knows every session is its own.
			return
		}
		var owners []string
		n.readMeta(func(m *fsm.Meta) { owners = m.ExclusiveOwners() })
		var gone []string
		for _, s := range owners {
			if !n.sessions.live(s) {
				gone = append(gone, s)
			}
		}
		if len(gone) > 0 {
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			defer cancel()
			n.downMetaSessions(ctx, gone)
		}
	}()
}
