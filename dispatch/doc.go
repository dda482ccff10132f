// Package dispatch is the leader side of a queue group: it owns the live
// consumer streams, hands each delivery effect of the state machine to its
// stream in order, validates acks/nacks against what is outstanding, and
// turns them into batched Settle/Return/Discard commands — one Raft entry
// for many acks. When a stream ends it proposes Cancel, after the acks that
// came before it, so an acked message is never returned.
//
// The state machine decides who gets what (a pure function of the log);
// dispatch only moves bytes and feeds acks back. It knows fsm, never
// broker or Raft: the broker gives it a Proposer.
package dispatch
