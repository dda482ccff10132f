package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

var (
	availOnce sync.Once
	availErr  error
)

// Available returns nil when labs can be built here: Linux, root, the ip
// command, and a probe namespace with a bridge and a veth pair could be
// made (and was removed again). Otherwise its error says why, for t.Skip.
// The answer is computed once per process.
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

func probe() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("netlab: network namespaces need Linux, not %s", runtime.GOOS)
	}
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("netlab: network namespaces need root (running as uid %d)", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab: the ip command (iproute2) is missing: %w", err)
	}
	if _, err := lockDir(); err != nil {
		return err
	}
	ns := probePrefix + strconv.Itoa(os.Getpid())
	if err := ipBatch("", []string{"netns add " + ns}); err != nil {
		return fmt.Errorf("netlab: cannot create a network namespace: %w", err)
	}
	err := ipBatch(ns, []string{
		"link add b0 type bridge",
		"link add v0 type veth peer name v1",
		"link set v0 master b0",
	})
	if err != nil {
		err = fmt.Errorf("netlab: cannot make a bridge and a veth pair: %w", err)
	}
	return errors.Join(err, ipBatch("", []string{"netns del " + ns}))
}

// ipBatch runs ip commands (one per line, without the leading "ip") in one
// ip process, inside namespace ns when ns is not empty. It stops at the
// first failing command.
func ipBatch(ns string, lines []string) error {
	var args []string
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "-batch", "-")
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		where := "root namespace"
		if ns != "" {
			where = "namespace " + ns
		}
		return fmt.Errorf("netlab: ip in %s: %w: %s (commands: %q)", where, err, strings.TrimSpace(string(out)), lines)
	}
	return nil
}

// listNamespaces returns the names of every named network namespace.
func listNamespaces() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("netlab: ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0]) // "name (id: 3)"
		}
	}
	return names, nil
}

// killInside sends SIGKILL to every process whose network namespace is ns,
// except this process (one of whose threads may be in ns through Host.Do).
func killInside(ns string) error {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return fmt.Errorf("netlab: ip netns pids %s: %w", ns, err)
	}
	var errs []error
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := killPid(pid); err != nil {
			errs = append(errs, fmt.Errorf("netlab: kill %d in %s: %w", pid, ns, err))
		}
	}
	return errors.Join(errs...)
}
