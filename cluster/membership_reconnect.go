package cluster

import (
	"time"
)

// reconnectEvery is how often a node tries to reach the members gossip has
// declared dead. memberlist probes only alive and suspect nodes; a node
// declared dead during a short partition comes back only at the next
// push/pull (every 30 s with the LAN profile), and meanwhile no leadership
// moves to it and its sessions count as gone. Serf does the same
// ("reconnect"), every 30 s.
const reconnectEvery = 3 * time.Second

// reconnectLoop tries, every reconnectEvery, a push/pull with each member
// that gossip shows dead (not left: a stopped node is not coming back by
// itself). One that answers is alive again in this node's view at once,
// and gossip spreads it.
func (n *Node) reconnectLoop() {
	t := time.NewTicker(reconnectEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		m := n.gossip()
		if m == nil {
			continue
		}
		var dead []string
		for _, mem := range m.list() {
			if mem.State == MemberDead && mem.GossipAddr != "" && mem.ID != n.cfg.NodeID {
				dead = append(dead, mem.GossipAddr)
			}
		}
		for _, addr := range dead {
			if n.ctx.Err() != nil {
				return
			}
			if m.pushPull([]string{addr}) > 0 {
				n.logger.Info("reached a member gossip had declared dead", "gossip_addr", addr)
			}
		}
	}
}
