package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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
