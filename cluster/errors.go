package cluster

import (
	"errors"
	"fmt"
)

// ErrOutcomeUnknown is wrapped when a proposal reached the Raft log but this
// node cannot tell whether it committed: leadership was lost, or the group
// shut down, between appending the entry and applying it
// (raft.ErrLeadershipLost is indeterminate, hashicorp/raft#561). The entry
// may still be applied by the next leader, so callers must retry only with
// an idempotent command (the publish id of ARCHITECTURE §5). The Raft cause
// is wrapped too, so errors.Is(err, raft.ErrLeadershipLost) also holds.
var ErrOutcomeUnknown = errors.New("outcome unknown")

// ErrEntryTooLarge is wrapped when a proposal is larger than MaxEntrySize.
// Nothing was appended; the caller must split the command (STYLE §2).
var ErrEntryTooLarge = errors.New("raft entry too large")

// ErrGroupClosed is wrapped when an operation reaches a Group after
// Shutdown (or after Raft shut itself down, e.g. when this node was removed
// from the group's configuration). When it is wrapped together with
// ErrOutcomeUnknown the entry had already been appended.
var ErrGroupClosed = errors.New("raft group closed")

// ErrMemberAlive is wrapped when a group's leader refuses to remove a node
// that its gossip still shows alive (it would add it back). Retry after
// gossip has converged.
var ErrMemberAlive = errors.New("member still alive in the leader's view")

// NotLeaderError is returned when an operation that needs the leader reaches
// a node that is not the leader of Group. LeaderID and LeaderAddr name the
// leader this node currently knows of; both are empty while no leader is
// known (an election is under way, or a leadership transfer is in progress).
// Nothing was appended, so retrying at the leader is always safe.
type NotLeaderError struct {
	// Group is the Raft group name ("meta", "q0", ...).
	Group string
	// LeaderID is the raft.ServerID (the node id) of the known leader, or "".
	LeaderID string
	// LeaderAddr is the Raft address of the known leader, or "". It is the
	// node's raft (mux) address, not its gRPC address.
	LeaderAddr string
	// LeaderGRPCAddr is the gRPC address (clients' and nodes' API) of the
	// known leader, when membership knows it; "" otherwise.
	LeaderGRPCAddr string
	// MetaIndex, when not 0, is the meta index this node had applied when
	// it answered: a client that goes to the leader asks it to have applied
	// as much, so the leader knows what this node knew (a queue declared a
	// moment ago).
	MetaIndex uint64
}

// Error implements error.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" && e.LeaderAddr == "" {
		return fmt.Sprintf("raft group %s: not the leader, no leader known", e.Group)
	}
	return fmt.Sprintf("raft group %s: not the leader, leader is %s at %s", e.Group, e.LeaderID, e.LeaderAddr)
}
