// Package transport adapts gRPC to a cluster.Node: the public
// BrokerService, input validation against documented limits, conversion
// between the API (warrenpb) and the log format (fsmpb), and the single
// table that turns domain errors into gRPC status codes (errors.go).
package transport
