package chaos

import (
	"fmt"
	"net"
)

// freeAddr returns a loopback address with a port the OS just handed out
// and that is free again; a node that then fails to bind it is started
// again on other ports.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// freeGossipAddr is freeAddr for memberlist, which binds the port for TCP
// and UDP.
func freeGossipAddr() (string, error) {
	var last error
	for range 10 {
		addr, err := freeAddr()
		if err != nil {
			return "", err
		}
		pc, err := net.ListenPacket("udp", addr)
		if err == nil {
			return addr, pc.Close()
		}
		last = err
	}
	return "", fmt.Errorf("no free gossip port: %w", last)
}
