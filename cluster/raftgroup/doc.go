// Package raftgroup runs one Raft group of a node: a hashicorp/raft
// instance with its own stores, transport and state machine, and the one
// write path to it. It imports no Warren package; what the groups hold and
// how a node finds its peers are the business of packages broker and
// cluster.
//
// A node runs one meta group and K queue groups (ARCHITECTURE §2), each a
// Group opened with Open(Options). Each has its own stores under
// <data-dir>/groups/<name>/ (raft-boltdb v2 raft.db behind a LogCache, and
// a FileSnapshotStore keeping 2 snapshots), its own NetworkTransport and
// its own FSM. hashicorp/raft has no multi-raft, so the groups share
// nothing but the TCP port. Config holds a group's Raft timings
// (DefaultConfig for a LAN, FastConfig for tests on loopback), and
// Config.Validate checks the relations between them.
//
// The port is shared through a Mux: every connection opens with a short
// header ('W', version 1, uint8 len, group id) that the Mux strips before
// handing the connection to that group's raft.StreamLayer (Mux.Layer).
// Every group therefore has the same ServerID (the node id) and
// ServerAddress (the node's Raft address); only the header differs.
//
// Propose[R] is the write path: it appends one entry, waits for this
// node's FSM to apply it, and returns the FSM's response as an R and the
// entry's index. It is Append[R], which hands the entry to Raft and
// returns, followed by Proposal.Wait; a caller that keeps several entries
// in flight, in order, uses the two halves. Barrier waits for everything
// appended before it; AddVoter, AddNonvoter, RemoveServer and
// TransferLeadership(To) change the configuration and the leader.
//
// Raft's errors are translated into this package's: *NotLeaderError
// (nothing appended; retry at the leader), ErrOutcomeUnknown (may or may
// not have committed; retry only idempotently), ErrEntryTooLarge,
// ErrGroupClosed and ErrUnexpectedResponse (the FSM answered with another
// type than R). A NotLeaderError is made only by NewNotLeaderError, or by
// Group.NotLeader for this node's view of the leader. Leadership changes
// reach the owner through Options.OnLeadership, in order and with
// lost-and-regained leadership made explicit.
//
// STYLE §4, §5, §7 and §11 prescribe this wiring and explain the choices;
// DESIGN.md says why the package is shaped this way.
package raftgroup
