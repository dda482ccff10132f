// Package chaos is Warren's fault-injection harness, behind `warren chaos
// run`: it starts a cluster of real warren-node processes, runs a
// recorded workload against it through the Go SDK while a nemesis injects
// faults on a seeded schedule, heals everything, drains every queue and
// checks the history with package chaos/check (every confirmed message
// delivered, nothing delivered that was not published).
//
// # Cluster
//
// Run starts Options.Nodes (3 or 5) warren-node processes with
// --bootstrap-expect N and --join listing every node: on 127.0.0.1 with
// OS-picked ports (all nodes start again on new ports when one was taken
// before it bound), or, when partitions are among the faults, each in its
// own network namespace of an internal/netlab lab, with the harness and
// the workload dialling from a further client namespace. A restarted node
// keeps its id, ports and data directory. There is no attach mode: every
// fault but partitions needs the processes, and partitions need the
// namespaces, so the harness always runs its own cluster.
//
// # Workload
//
// Producers (Options.Producers, each its own client, with confirms) draw a
// route per message: the default exchange, a direct exchange, a topic
// exchange, a fanout exchange to two queues (one consumed during the run,
// one, the backlog, only at the end), a queue with
// x-single-active-consumer=true (at least two consumers, one active), an
// x-delayed-message exchange (x-delayed-type=direct; each message delayed
// 50–500 ms with client.Delay), or a dead-letter source queue
// (x-dead-letter-strategy=at-least-once, x-overflow=reject-publish, a
// 200 ms x-message-ttl, the default exchange as x-dead-letter-exchange)
// that no one consumes: every message expires there and is dead-lettered
// into a consumed target queue. The dead-letter route's publishes are
// recorded for the target, so the checker counts a message confirmed into
// the source as delivered when it arrives in the target, and its report
// row chaos-dl-target shows them. Every queue has x-delivery-limit=-1.
// Each message carries a unique
// id "producer-seq" in its body. A publish whose outcome stays unknown
// after its timeout is retried (up to publishAttempts, the same id, a new
// publish the server cannot deduplicate); every attempt is recorded: OK on
// a confirm, Failed only on a definite refusal, Unknown otherwise.
// Consumers (Options.Consumers per queue, manual acks, Options.Prefetch)
// record each delivery with its redelivered flag and each ack's outcome.
// One more producer publishes sequentially (one request in flight) to an
// ordered queue with a single prefetch-1 consumer, for the order check.
// The total rate is bounded by Options.Rate.
//
// # Faults
//
// The schedule (plan) is drawn from Options.Seed: kinds, hold times, quiet
// gaps, target nodes and target queues; the same seed replays the same
// sequence (who leads a queue at that moment is the run's). Kinds are
// dealt in rounds that hold each requested kind once; Result.NotRun names
// every requested kind that did not run, and why. Faults come
// one at a time; the next one waits until the cluster is healthy again.
// Kill and KillMinority SIGKILL nodes and restart them; KillLeader kills
// the leader of a queue's Raft group (found with ClusterStatus); Pause
// sends SIGSTOP, then SIGCONT; PowerLoss SIGKILLs every node at once and
// restarts them all; Partition isolates a node or a queue's leader, or
// cuts a majority ring. Each fault is recorded as a window for the checker
// (duplicates inside a window are expected), and measured: Leaderless
// (how long some group had no leader that was up, sampled every 200 ms),
// HealTime (until a publish sent after the fault was confirmed on every
// route) and Recovered (from the heal until the cluster was healthy).
//
// # End
//
// After Options.Duration everything is healed, the producers stop, the
// consumers stop (their unacked deliveries return, redelivered), fresh
// consumers drain every queue (but the dead-letter source, which empties
// into its target) until all are empty and nothing arrived for 3 s, and the history goes to check.Check. The history is saved as
// history.json in the data directory.
//
// # Failover benchmark
//
// Failover (behind `warren bench failover`) reuses the cluster of Run to
// time one thing: how long publishers and consumers of a queue wait when
// its group's leader is killed (or paused). Per trial it finds the leader,
// connects a producer (open loop, confirmed publishes carrying their send
// time) and a consumer to the other nodes, takes the leader away, and
// records the new leader's election (from the survivors' logs), the first
// confirm and the first delivery of a message sent after the signal; then
// it brings the node back and waits for a healthy cluster with its leaders
// spread before the next trial. It never fails on a slow machine: a trial
// that sees nothing within its wait is counted as missed.
package chaos
