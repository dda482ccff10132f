package raftgroup

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

// ErrUnexpectedResponse is wrapped when the FSM answered an entry with a
// value of another type than the caller asked Propose for: a programming
// error, reported instead of a panic. The entry was applied.
var ErrUnexpectedResponse = errors.New("unexpected apply response")

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
}

// NewNotLeaderError is the one way to make a NotLeaderError: Group.NotLeader
// for this node's view, or from the fields a peer sent.
func NewNotLeaderError(group, leaderID, leaderAddr string) *NotLeaderError {
	return &NotLeaderError{Group: group, LeaderID: leaderID, LeaderAddr: leaderAddr}
}

// Error implements error.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" && e.LeaderAddr == "" {
		return fmt.Sprintf("raft group %s: not the leader, no leader known", e.Group)
	}
	return fmt.Sprintf("raft group %s: not the leader, leader is %s at %s", e.Group, e.LeaderID, e.LeaderAddr)
}

// ErrLogStoreMismatch is wrapped when Options.LogStore names another log
// store than the one the group's directory holds. Nothing was opened: a
// directory is never read by a store that did not write it, which would
// see an empty log.
var ErrLogStoreMismatch = errors.New("log store mismatch")
