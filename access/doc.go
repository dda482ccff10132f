// Package access authenticates clients and authorizes what they ask for,
// by RabbitMQ's model: users with memory-hard password hashes (or a client
// certificate naming them), per user and virtual host three regular
// expressions (configure, write, read) over resource names, and the user
// tags administrator and monitoring. The users live in the replicated meta
// state (package fsm); access only reads them, through a Directory.
//
// Both wire protocols use it: the transport states, per RPC, what a request
// needs (a table in one file), and access decides.
package access
