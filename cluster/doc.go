// Package cluster runs a Warren node: its Raft groups, the Raft port they
// share, and the glue between Raft and the state machines of package fsm.
//
// A node runs one meta group and K queue groups (ARCHITECTURE §2). Each is
// a Group: an independent hashicorp/raft instance with its own stores under
// <data-dir>/groups/<name>/ (raft-boltdb v2 raft.db behind a LogCache, and a
// FileSnapshotStore keeping 2 snapshots), its own NetworkTransport and its
// own FSM. hashicorp/raft has no multi-raft, so the groups share nothing
// but the TCP port.
//
// The port is shared through a Mux: every connection opens with a short
// header ('W', version 1, group id) that the Mux strips before handing the
// connection to that group's raft.StreamLayer (Mux.Layer). Every group
// therefore has the same ServerID (the node id) and ServerAddress (the node's
// raft address); only the header differs.
//
// Group.Propose is the write path: it appends one command, waits for this
// node's FSM to apply it and returns the FSM's response. Raft's errors are
// translated into this package's: *NotLeaderError (retry at the leader),
// ErrOutcomeUnknown (may or may not have committed; retry only
// idempotently), ErrEntryTooLarge and ErrGroupClosed. Leadership changes
// reach the node through GroupOptions.OnLeadership, in order and with
// lost-and-regained leadership made explicit.
//
// STYLE §4, §5, §7 and §11 prescribe this wiring and explain the choices.
package cluster
