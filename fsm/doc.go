// Package fsm holds Warren's deterministic state machines: Meta (exchanges,
// bindings, queues and their placement on queue groups) and QueueGroup (the
// messages and consumers of every queue placed on one queue Raft group),
// the commands of the Raft log and their encoding, the effects that applying
// a command produces (deliveries, dead letters), and the snapshot codecs.
//
// A command is its body, a protobuf message of package fsmpb: the body's Go
// type fixes the CommandType, so there is no separate type to get wrong.
// Encode derives the type from the body and writes [envelope version][type]
// [deterministic proto]; Decode returns the body; IsMeta tells which machine
// a body belongs to; Meta.Apply and QueueGroup.Apply take the body and
// refuse, in Result.Err, a body of the other machine.
//
// Every command is checked when it is applied against the fixed limits of
// limits.go (names, sizes, kinds, references), as the API edge checks
// requests, because a command can reach the log without passing the edge;
// a command past a limit is refused in Result.Err (wrapping ErrInvalid)
// and changes nothing. The checks are exported (ValidName, ValidArgs, …)
// so that front ends apply the same rules. A command costs what it
// touches, never the size of the whole state: Meta indexes exclusive queues
// by owner session and bindings by queue, QueueGroup consumers by session.
// A queue's max-length-bytes counts MessageSize (body, headers and string
// properties) under the size rule each Enqueue names; entries from before
// the rule count bodies alone, as they did when first applied.
//
// Everything here is a pure function of the log: no clock (time arrives
// inside commands), no randomness, no I/O but snapshot readers and writers,
// and no map iteration order in results or snapshots. Replicas that apply
// the same log hold byte-identical state. The package knows nothing of
// Raft, gRPC or networks; broker adapts it to raft.FSM.
package fsm
