// Package fsm holds Warren's deterministic state machines: Meta (exchanges,
// bindings, queues and their placement on queue groups) and QueueGroup (the
// messages and consumers of every queue placed on one queue Raft group),
// the typed commands of the Raft log and their encoding, the effects that
// applying a command produces (deliveries, dead letters), and the snapshot
// codecs.
//
// Everything here is a pure function of the log: no clock (time arrives
// inside commands), no randomness, no I/O but snapshot readers and writers,
// and no map iteration order in results or snapshots. Replicas that apply
// the same log hold byte-identical state. The package knows nothing of
// Raft, gRPC or networks; cluster adapts it to raft.FSM.
package fsm
