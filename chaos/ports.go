package chaos

import "github.com/warrenmq/warren/internal/freeport"

// freeAddr returns a loopback address with a port the OS just handed out
// and that is free again; a node that then fails to bind it is started
// again on other ports.
func freeAddr() (string, error) { return freeport.TCP() }

// freeGossipAddr is freeAddr for memberlist, which binds the port for TCP
// and UDP.
func freeGossipAddr() (string, error) { return freeport.Gossip() }
