// Package transport adapts gRPC to a broker.Broker: the public
// BrokerService (Server; on the client port, and on the cluster port for
// proxied calls), the internal NodeService (NodeServer, cluster port only, whose
// Propose and Enqueue are served by the broker's forwarding), input
// validation against documented limits, conversion between the API's
// messages (warrenpb) and the broker's own types (convert.go), proxying of
// consume streams and gets to a queue's leader, gossip key rotation
// (gossip_key.go: cluster's keyring on every member), and toStatus (errors.go),
// which turns errors into gRPC statuses: those that cross node-to-node
// calls by cluster's table (cluster.Status), the broker's consumer errors
// and resource limits by its own cases.
//
// It imports only broker, cluster and warrenpb (internal/layering holds it
// to that): log records, state machines, the dispatcher and Raft groups are
// the broker's business.
package transport
