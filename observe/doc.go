// Package observe is a node's HTTP endpoint for operators: /metrics
// (Prometheus text format), /livez (the process is up) and /readyz (every
// Raft group has a leader and this node has caught up; 503 with the reason
// otherwise), with TLS and the client API's authentication: /metrics and
// /readyz need a user tagged monitoring or administrator (HTTP Basic, or a
// client certificate naming the user), /livez needs nothing.
//
// Metrics are computed when scraped, from the broker's state (queues,
// Raft groups, members) and from counters kept where events happen (the
// broker's message counts, the client port's streams and connections);
// hashicorp/raft's own timings arrive through go-metrics (raft_sink.go).
// DESIGN.md says why it is built this way.
package observe
