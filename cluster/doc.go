// Package cluster is a node's place in the cluster: it runs the node's
// Raft groups (package raftgroup) on one Raft port, and keeps the node in
// the cluster with its peers. What the groups hold, and the work that runs
// on them, belong to their owner, package broker.
//
// Start(cfg, meta, queues) opens the Raft port (a raftgroup.Mux), one
// group per GroupSpec — the meta group and the K queue groups, each with
// its owner's state machine, OnLeadership hook and LeaderReady channel —
// and starts memberlist gossip; WaitReady waits until every group has a
// leader and this node has caught up. A Node then does, in the background:
//
//   - membership: gossip carries each node's id, zone, Raft and gRPC
//     addresses and FSM version (membership*.go), and reconnects to nodes
//     declared dead after a short partition;
//   - formation: a single node bootstraps itself; with BootstrapExpect N
//     the founders bootstrap every group with the same voters once gossip
//     shows all N; with Join a node waits to be added (formation.go);
//   - the reconciler: each group's leader adds alive members (voters up to
//     MaxVoters, seats spread over zones, then non-voters), removes nodes
//     dead longer than Config.DeadNodeRemoval while quorum stays safe, and
//     spreads the queue groups' leaders over the nodes.
//
// On request it hands its leaderships off before stopping (HandOff),
// leaves the cluster for good or removes a dead node (Leave, RemoveNode,
// RemoveFromGroup), reports the groups' status with every server's
// lag (GroupStatuses, LocalIndexes), and rotates the gossip encryption key
// on every running member (GossipKeys: the node's keyring, persisted in the
// data directory; gossip_keyring*.go).
//
// peer.go holds every connection to a peer — one gRPC connection per peer,
// over the peer's cluster port (its Raft port, behind the mux header
// node-api; PeerListener is this node's end) — and this package's own
// NodeService calls over them: LocalStatus (LeaderCommitIndex,
// GroupStatuses) and RemoveMember; LocalGossipKey is called from
// gossip_keyring_cluster.go. broker makes its calls over the same
// connections (LeaderConn, PeerConn, RunningPeers). The client port never
// serves node-to-node calls.
// errors.go is the one table between Go errors and gRPC statuses for the
// errors that cross a node-to-node call: Status encodes an error as a code
// and an ErrorInfo reason, FromStatus and ErrorOf rebuild it on the other
// side, so errors.Is finds the same sentinel there as on the node that
// failed. cluster imports fsm only for its error sentinels.
//
// DESIGN.md says why the package is shaped this way.
package cluster
