package broker

import (
	"sync/atomic"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
)

// featuresVersion is the first FSM version (cluster.FSMVersion) that
// applies the queue and routing features of issue 12: DeclareQueue.
// args_level 1 (x-expires, x-single-active-consumer, x-max-priority,
// x-consumer-timeout, the default delivery limit), QueueUsed, Checkout's
// priority and timeout; exchange-to-exchange bindings, alternate
// exchanges, list and table values, x-death, reject-publish-dlx,
// at-least-once dead-lettering and delayed messages.
const featuresVersion = 3

// dedupFlagsVersion is the first FSM version that applies
// Payload.redelivered (a republish the outbox flags as possibly seen) and
// the deduplication of DelayedMessage (producer_id, sequence).
const dedupFlagsVersion = 4

// versionGate tells whether every server of a group gossips an FSM
// version (sizeRuleGate is one, for the size rule): an older build would
// ignore the new fields or refuse the new command, and its replicas would
// diverge. Once open it stays open for the life of the process.
type versionGate struct {
	node    *cluster.Node
	group   *raftgroup.Group
	version uint32
	open    atomic.Bool
}

// ok reports whether the gate is open, checking the group's configuration
// and gossip until it is.
func (v *versionGate) ok() bool {
	if v == nil {
		return false
	}
	if v.open.Load() {
		return true
	}
	if v.node == nil || v.group == nil || !groupAtVersion(v.group, v.node.Members(), v.version) {
		return false
	}
	v.open.Store(true)
	return true
}
