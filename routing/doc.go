// Package routing decides which queues a published message goes to.
//
// A Table holds the bindings of one exchange and routes messages through
// them with RabbitMQ's semantics for the four exchange kinds:
//
//   - Direct: the binding key equals the routing key, byte for byte.
//   - Fanout: every bound queue, whatever the key and arguments.
//   - Topic: the binding key is a dot-separated pattern in which "*" stands
//     for exactly one word and "#" for zero or more words.
//   - Headers: the binding arguments are matched against the message
//     headers, all of them or any of them as the binding's x-match says.
//
// The package is pure and deterministic: Route's result depends only on
// the set of live bindings and the message, never on the order in which
// bindings were added, on map iteration order, or on time. That lets every
// Raft replica route a message to the same queues.
//
// DESIGN.md explains the data structures and their costs.
package routing
