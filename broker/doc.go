// Package broker is what a Warren node serves, and the work that runs on
// its Raft groups: exchanges, queues and bindings in the meta group,
// messages and consumers in the queue groups.
//
// Start(Config) builds one state machine per group — a stateMachine[S]
// (state_machine.go), the one raft.FSM adapter for fsm.Meta and
// fsm.QueueGroup alike — and hands them to cluster.Start, which runs the
// groups and keeps the node in the cluster (Broker.Node). An entry that
// does not decode, or belongs to the other kind of group, is applied as an
// error result on every replica alike: no entry stops a group.
//
// On top of the groups:
//
//   - publish (publish.go): route every entry with the local meta state,
//     one fsmpb.EnqueueMessage per routed entry and queue group (a second
//     queue of the same group adds a queue_ref, not a copy); the group's
//     committer (committer.go) coalesces concurrent publishes into one
//     Enqueue entry and keeps up to 8 entries in flight;
//   - declarations (declare.go) go through the meta group and return the
//     meta index they committed at; reads (read.go) answer from this node's
//     replicas, after waiting for a meta index the client has seen;
//   - consume, get and settle (consume.go) on the queue's leader, through
//     the group's dispatcher (package dispatch);
//   - the queue leader loop (queue_group.go): after a Barrier it starts the
//     dispatcher, returns the deliveries of sessions no node serves once
//     the grace period has passed, cancels consumers with no stream, and
//     ticks leases and TTLs; the meta leader loop (meta_leader.go) deletes
//     the exclusive queues of sessions no node serves;
//   - sessions (sessions.go) and liveness (liveness.go): which sessions this
//     node serves, and asking the alive peers about the rest;
//   - dead letters and auto-delete, republished or deleted on the leader
//     after the command that caused them committed;
//   - meta catch-up (meta_catchup.go): a name not found here is looked up
//     again after catching up with the meta leader's commit index;
//   - forwarding (forward.go): what must be decided by a group's leader
//     (proposals, enqueues) goes there over NodeService, and both ends live
//     here. An error that says another node leads the group is a
//     *raftgroup.NotLeaderError (LeaderElsewhere); Redirect adds the
//     leader's gRPC address and this node's meta index for the SDK
//     (*NotLeaderError).
//
// The API is the broker's own types (message.go, definitions.go,
// consumer.go); package transport adapts gRPC to them. The log records of
// package fsm/fsmpb stay inside broker and fsm: log_records.go is the one
// place that converts between the two.
//
// DESIGN.md says why the package is shaped this way.
package broker
