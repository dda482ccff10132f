// Package manage is the node's management HTTP API (/api/…, JSON, shaped
// after RabbitMQ's management API) and the web UI served from files
// embedded in the binary. It sits on the broker as transport does, and
// decides who may do what with access's per-operation needs, the same
// ones the gRPC API's rules table uses.
package manage
