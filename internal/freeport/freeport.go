// Package freeport hands out loopback addresses whose ports the OS just
// reported free, for tests and harnesses that start node processes: the
// port is released before the process binds it, so a process may still
// find it taken (callers start it again on new ports). The OS may hand
// out a port it just freed a second time, and two nodes of one cluster
// were once given the same gossip port: a port is never handed out twice
// in one process.
package freeport

import (
	"fmt"
	"net"
	"sync"
)

var handedOut = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

// TCP returns 127.0.0.1:port with a port free for TCP a moment ago.
func TCP() (string, error) {
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return "", err
		}
		handedOut.Lock()
		repeated := handedOut.seen[addr]
		handedOut.seen[addr] = true
		handedOut.Unlock()
		if !repeated || attempt == 20 {
			return addr, nil
		}
	}
}

// Gossip is TCP for memberlist, which binds the port for TCP and UDP.
func Gossip() (string, error) {
	var last error
	for range 10 {
		addr, err := TCP()
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
