package chaos

import (
	"fmt"
	"net"
	"sync"
)

// freeAddr returns a loopback address with a port the OS just handed out
// and that is free again; a node that then fails to bind it is started
// again on other ports.
func freeAddr() (string, error) {
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return "", err
		}
		// The OS may hand a port it just freed out again; two nodes on
		// one port would fail to form the cluster.
		if handedOut.add(addr) || attempt == 20 {
			return addr, nil
		}
	}
}

// handedOut is every address freeAddr returned in this process.
var handedOut = addrSet{seen: map[string]bool{}}

type addrSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

// add records addr and reports whether it was new.
func (s *addrSet) add(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[addr] {
		return false
	}
	s.seen[addr] = true
	return true
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
