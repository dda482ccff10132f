package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
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
func labNamespaces(t *testing.T, l *Lab) []string {
	t.Helper()
	all, err := listNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, ns := range all {
		if strings.HasPrefix(ns, slotPrefix(l.slot)) {
			mine = append(mine, ns)
		}
	}
	return mine
}

// TestCloseRemovesEverything: Close removes every namespace, kills what
// runs inside, is idempotent, and the lab's methods fail afterwards.
func TestCloseRemovesEverything(t *testing.T) {
	t.Parallel()
	l := newLab(t, "close", 2)
	if got := labNamespaces(t, l); len(got) != 3 {
		t.Fatalf("lab of 2 hosts has namespaces %v, want a switch and 2 hosts", got)
	}
	h := l.Hosts()[1]
	cmd := h.Command(context.Background(), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("a process inside the lab outlived Close")
	}
	if got := labNamespaces(t, l); len(got) != 0 {
		t.Errorf("namespaces left after Close: %v", got)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Isolate(h); err == nil {
		t.Error("Isolate after Close succeeded")
	}
	if err := h.Do(func() error { return nil }); err == nil {
		t.Error("Do after Close succeeded")
	}
}

// TestLabsDoNotCollide: labs built at the same time, even with one name,
// get distinct subnets and namespaces, and one lab's hosts cannot reach
// another's.
func TestLabsDoNotCollide(t *testing.T) {
	t.Parallel()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	const n = 4
	labs := make([]*Lab, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range labs {
		wg.Go(func() { labs[i], errs[i] = New("same", 2) })
	}
	wg.Wait()
	for i, l := range labs {
		if l != nil {
			t.Cleanup(func() { l.Close() })
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	seen := map[string]bool{}
	for _, l := range labs {
		for _, s := range append([]string{l.Subnet()}, labNamespaces(t, l)...) {
			if seen[s] {
				t.Fatalf("two labs share %s", s)
			}
			seen[s] = true
		}
	}
	a, b := labs[0], labs[1]
	addrsB := listenAll(t, b)
	target := b.Hosts()[0]
	// a's host has no route to b's subnet at all: the dial fails at once.
	if err := dial(a.Hosts()[0], addrsB[target], cutWait); err == nil {
		t.Fatal("a host of one lab reached a host of another")
	}
	reachable(t, b.Hosts()[1], target, addrsB)
}

// TestCommand: a command runs inside the host's namespace, and its pid is
// the program's own (ip netns exec execs it).
func TestCommand(t *testing.T) {
	t.Parallel()
	l := newLab(t, "cmd", 1)
	h := l.Hosts()[0]
	out, err := h.Command(context.Background(), "ip", "-o", "addr", "show", "dev", hostIf).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), " "+h.IP+"/24 ") {
		t.Errorf("eth0 inside %s: %s; want %s", h.NS, out, h.IP)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := h.Command(ctx, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	// ip may not have exec'ed yet: poll until the pid shows the program.
	deadline := time.Now().Add(5 * time.Second)
	for {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if err == nil && strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d is %q, not sleep (%v)", cmd.Process.Pid, comm, err)
		}
		time.Sleep(10 * time.Millisecond) // poll pacing
	}
}

// nsInode returns the inode of a namespace file: two files name the same
// namespace when their inodes match.
func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func mustInode(t *testing.T, path string) uint64 {
	t.Helper()
	ino, err := nsInode(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

// TestDoEntersAndLeaves: fn runs in the host's namespace, and afterwards no
// thread of the process is left in it, even after many concurrent calls
// and a panic. Not parallel: other tests' Do calls would hold threads in
// their labs while it looks.
func TestDoEntersAndLeaves(t *testing.T) {
	l := newLab(t, "do", 1)
	h := l.Hosts()[0]
	want := mustInode(t, netnsDir+h.NS)
	root := mustInode(t, "/proc/self/ns/net")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			errs <- h.Do(func() error {
				got, err := nsInode("/proc/thread-self/ns/net")
				if err == nil && got != want {
					err = fmt.Errorf("inside Do the thread's namespace is %d, want %d", got, want)
				}
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("panic in fn: recovered %v, want boom", v)
			}
		}()
		_ = h.Do(func() error { panic("boom") })
	}()
	sentinel := errors.New("fn's error")
	if err := h.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ino, err := nsInode("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if ino != root {
			t.Errorf("thread %s is still in namespace %d, not the root's %d", task.Name(), ino, root)
		}
	}
}

// Environment of the stale-lab helper process.
const staleHelperEnv = "NETLAB_STALE_HELPER"

// TestHelperStaleLab is not a test: re-executed by TestCleanStale, it
// builds a lab, starts a sleep in one of its hosts, prints the lab's slot
// and the sleep's pid, and waits to be killed.
func TestHelperStaleLab(t *testing.T) {
	if os.Getenv(staleHelperEnv) == "" {
		return
	}
	l, err := New("stale", 2)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cmd := l.Hosts()[0].Command(context.Background(), "sleep", "120")
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("SLOT %d PID %d\n", l.slot, cmd.Process.Pid)
	time.Sleep(2 * time.Minute) // until killed; bounded all the same
	os.Exit(3)
}

// TestCleanStale: a test process killed with its lab up leaves namespaces
// behind; CleanStale removes them (and nothing of a live lab), and the
// parent-death signal has already ended the process it ran in a host.
func TestCleanStale(t *testing.T) {
	t.Parallel()
	live := newLab(t, "live", 1)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStaleLab$", "-test.count=1")
	cmd.Env = append(os.Environ(), staleHelperEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var slot, pid int
	_, scanErr := fmt.Fscanf(stdout, "SLOT %d PID %d\n", &slot, &pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if scanErr != nil {
		t.Fatalf("helper: %v\n%s", scanErr, stderr.String())
	}
	stale := func() []string {
		all, err := listNamespaces()
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(all, func(ns string) bool { return !strings.HasPrefix(ns, slotPrefix(slot)) })
	}
	if got := stale(); len(got) != 3 {
		t.Fatalf("killed helper left %v, want its switch and 2 hosts", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("sleep %d inside the stale lab outlived its parent", pid)
			break
		}
		time.Sleep(10 * time.Millisecond) // poll pacing
	}
	removed, err := CleanStale()
	if err != nil {
		t.Fatal(err)
	}
	if got := stale(); len(got) != 0 {
		t.Errorf("namespaces of the stale lab left: %v", got)
	}
	if removed < 3 {
		t.Errorf("CleanStale removed %d namespaces, want at least the stale lab's 3", removed)
	}
	if got := labNamespaces(t, live); len(got) != 2 {
		t.Errorf("live lab's namespaces after CleanStale: %v", got)
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
