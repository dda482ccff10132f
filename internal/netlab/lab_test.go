package netlab

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Timings of the reachability checks. A dial inside a lab takes well under
// a millisecond, so a cut pair is one where a dial times out after
// cutWait; a healed pair may need a few tries while ARP re-resolves.
const (
	cutWait  = 300 * time.Millisecond
	healWait = 10 * time.Second
)

// newLab builds a lab for the test, skipping it where labs cannot be built.
func newLab(t *testing.T, name string, n int) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	l, err := New(name, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// listenAll opens a TCP listener on every host that accepts and closes
// connections until the test ends, and returns their addresses by host.
func listenAll(t *testing.T, l *Lab) map[*Host]string {
	t.Helper()
	addrs := map[*Host]string{}
	for _, h := range l.Hosts() {
		ln, err := h.Listen("tcp", h.IP+":0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		addrs[h] = ln.Addr().String()
	}
	return addrs
}

// dial connects from host from to addr within d.
func dial(from *Host, addr string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// reachable waits until from can connect to to.
func reachable(t *testing.T, from, to *Host, addrs map[*Host]string) {
	t.Helper()
	deadline := time.Now().Add(healWait)
	for {
		err := dial(from, addrs[to], time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s (%s): %v", from.Name, to.Name, addrs[to], err)
		}
		time.Sleep(20 * time.Millisecond) // retry pacing, not synchronisation
	}
}

// unreachable fails unless a connection from from to to times out: a
// refused or otherwise answered dial means packets got through.
func unreachable(t *testing.T, from, to *Host, addrs map[*Host]string) {
	t.Helper()
	err := dial(from, addrs[to], cutWait)
	if err == nil {
		t.Fatalf("%s reached %s through a cut", from.Name, to.Name)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s → %s: %v; want a timeout (packets silently lost)", from.Name, to.Name, err)
		}
	}
}

// connectivity checks every ordered pair of hosts against want.
func connectivity(t *testing.T, l *Lab, addrs map[*Host]string, want func(a, b *Host) bool) {
	t.Helper()
	for _, a := range l.Hosts() {
		for _, b := range l.Hosts() {
			if a == b {
				continue
			}
			if want(a, b) {
				reachable(t, a, b, addrs)
			} else {
				unreachable(t, a, b, addrs)
			}
		}
	}
}

func all(a, b *Host) bool { return true }

// rootState is what the root namespace shows of its links, addresses and
// routes.
func rootState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-o", "link"}, {"-o", "addr"}, {"route"}, {"-6", "route"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		b.Write(out)
	}
	return b.String()
}

// TestHostsReachEachOther: every host reaches every other and itself, and
// the root namespace is left exactly as it was (no link, address or route
// added, even while the lab exists).
func TestHostsReachEachOther(t *testing.T) {
	t.Parallel()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	before := rootState(t)
	l := newLab(t, "reach", 3)
	addrs := listenAll(t, l)
	connectivity(t, l, addrs, all)
	for _, h := range l.Hosts() {
		reachable(t, h, h, addrs)
		if !strings.HasPrefix(l.Subnet(), strings.Join(strings.Split(h.IP, ".")[:3], ".")+".") {
			t.Errorf("host %s address %s outside the lab's subnet %s", h.Name, h.IP, l.Subnet())
		}
	}
	if during := rootState(t); during != before {
		t.Errorf("root namespace changed while the lab exists:\nbefore:\n%s\nduring:\n%s", before, during)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if after := rootState(t); after != before {
		t.Errorf("root namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestIsolateReconnect: an isolated host reaches nobody and nobody reaches
// it; it still reaches itself; Reconnect restores everything.
func TestIsolateReconnect(t *testing.T) {
	t.Parallel()
	l := newLab(t, "iso", 3)
	addrs := listenAll(t, l)
	h := l.Hosts()
	connectivity(t, l, addrs, all) // warm ARP, so the cut is not ARP failing
	if err := l.Isolate(h[0]); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, func(a, b *Host) bool { return a != h[0] && b != h[0] })
	reachable(t, h[0], h[0], addrs)
	if err := l.Reconnect(h[0]); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, all)
}

// TestPartition: hosts in different sides cannot reach each other either
// way, hosts in one side can; a second Partition replaces the first; Heal
// restores everything.
func TestPartition(t *testing.T) {
	t.Parallel()
	l := newLab(t, "part", 4)
	addrs := listenAll(t, l)
	h := l.Hosts()
	connectivity(t, l, addrs, all)

	side := map[*Host]int{h[0]: 0, h[1]: 0, h[2]: 1, h[3]: 1}
	if err := l.Partition([]*Host{h[0], h[1]}, []*Host{h[2], h[3]}); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, func(a, b *Host) bool { return side[a] == side[b] })

	side = map[*Host]int{h[0]: 0, h[1]: 1, h[2]: 1, h[3]: 1}
	if err := l.Partition([]*Host{h[0]}, []*Host{h[1], h[2], h[3]}); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, func(a, b *Host) bool { return side[a] == side[b] })

	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, all)
}

// TestPartitionRejectsBadSides: every host must be in exactly one side.
func TestPartitionRejectsBadSides(t *testing.T) {
	t.Parallel()
	l := newLab(t, "bad", 3)
	other := newLab(t, "bad", 1)
	h := l.Hosts()
	for name, sides := range map[string][][]*Host{
		"host left out":   {{h[0]}, {h[1]}},
		"host twice":      {{h[0], h[1]}, {h[1], h[2]}},
		"empty side":      {{h[0], h[1], h[2]}, {}},
		"another lab's":   {{h[0], h[1], h[2]}, {other.Hosts()[0]}},
		"nil host":        {{h[0], h[1], h[2], nil}},
		"no side at all":  {},
		"left out, alone": {{h[2]}},
	} {
		if err := l.Partition(sides...); err == nil {
			t.Errorf("%s: Partition accepted %v", name, sides)
		}
	}
	if err := l.Cut(h[0], h[0]); err == nil {
		t.Error("Cut of a host from itself accepted")
	}
	if err := l.Isolate(other.Hosts()[0]); err == nil {
		t.Error("Isolate of another lab's host accepted")
	}
}

// TestCutRing: cuts between single pairs make a ring of four hosts where
// each reaches only the host opposite it: every cut pair is silent both
// ways, every other pair talks.
func TestCutRing(t *testing.T) {
	t.Parallel()
	l := newLab(t, "cut", 4)
	addrs := listenAll(t, l)
	h := l.Hosts()
	connectivity(t, l, addrs, all)
	cut := map[[2]*Host]bool{}
	for _, pair := range [][2]*Host{{h[0], h[1]}, {h[1], h[2]}, {h[2], h[3]}, {h[3], h[0]}} {
		if err := l.Cut(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
		cut[pair] = true
		cut[[2]*Host{pair[1], pair[0]}] = true
	}
	if err := l.Cut(h[1], h[0]); err != nil { // again, other way round
		t.Fatal(err)
	}
	connectivity(t, l, addrs, func(a, b *Host) bool { return !cut[[2]*Host{a, b}] })
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, all)
}

// TestHealUndoesEverything: Heal brings isolated hosts back and removes
// every cut at once.
func TestHealUndoesEverything(t *testing.T) {
	t.Parallel()
	l := newLab(t, "heal", 3)
	addrs := listenAll(t, l)
	h := l.Hosts()
	connectivity(t, l, addrs, all)
	if err := l.Isolate(h[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.Cut(h[1], h[2]); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, func(a, b *Host) bool { return false })
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	connectivity(t, l, addrs, all)
	if err := l.Heal(); err != nil { // nothing left to heal
		t.Fatal(err)
	}
}

// labNamespaces returns the namespaces of l that exist.
