package netlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
)

const (
	// nsPrefix starts every namespace name a lab makes, and probePrefix
	// the name of Available's probe (followed by the prober's pid).
	nsPrefix    = "wnl"
	probePrefix = nsPrefix + "probe-"
	// slots is how many /24 subnets 198.18.0.0/15 holds, and so how many
	// labs can exist at once on a machine.
	slots = 512
	// maxHosts leaves .254 for the sink next hop and .255 for broadcast.
	maxHosts = 253
	// sinkHost is the last octet of the sink next hop, and sinkMAC the
	// address its neighbour entry names: locally administered and owned
	// by no interface, so the bridge floods frames to it and every host
	// drops them (see the package doc).
	sinkHost = 254
	sinkMAC  = "02:00:5e:00:53:fe"
	// cutProto marks the routes Partition and Cut add, so Heal can flush
	// exactly those.
	cutProto = "213"
	// hostIf is the name of a host's interface to the switch.
	hostIf = "eth0"
	// bridgeIf is the name of the bridge in the switch namespace.
	bridgeIf = "br0"
	// netnsDir is where `ip netns add` mounts its namespaces.
	netnsDir = "/run/netns/"
)

// Lab is a switch namespace with a bridge and the hosts attached to it. A
// Lab's methods may be called from several goroutines.
type Lab struct {
	name   string
	slot   int
	sw     string // switch namespace
	hosts  []*Host
	unlock func()

	mu     sync.Mutex
	closed bool
}

// Host is one namespace of a lab. Name is "h1", "h2", … in the order of
// Lab.Hosts; NS is the namespace's name (for `ip netns exec`); IP is its
// address on the lab's subnet, without a prefix length.
type Host struct {
	Name string
	NS   string
	IP   string

	lab  *Lab
	port string // its veth's name in the switch namespace
}

// New builds a lab of n hosts whose namespace names start with a slot
// prefix and name (1 to 6 characters of [a-z0-9]). The caller must Close
// it; when New fails, whatever it made is removed.
func New(name string, n int) (*Lab, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if n < 1 || n > maxHosts {
		return nil, fmt.Errorf("netlab: %d hosts (want 1 to %d)", n, maxHosts)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	slot, unlock, err := claimSlot()
	if err != nil {
		return nil, err
	}
	l := &Lab{name: name, slot: slot, unlock: unlock}
	l.sw = fmt.Sprintf("%s%03d-%s-sw", nsPrefix, slot, name)
	for i := range n {
		l.hosts = append(l.hosts, &Host{
			Name: fmt.Sprintf("h%d", i+1),
			NS:   fmt.Sprintf("%s%03d-%s-h%d", nsPrefix, slot, name, i+1),
			IP:   l.addr(i + 1),
			lab:  l,
			port: fmt.Sprintf("p%d", i+1),
		})
	}
	if err := l.build(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 6 {
		return fmt.Errorf("netlab: lab name %q: want 1 to 6 characters", name)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return fmt.Errorf("netlab: lab name %q: only a-z and 0-9 allowed", name)
		}
	}
	return nil
}

// addr returns the address with last octet host on the lab's subnet.
func (l *Lab) addr(host int) string {
	return fmt.Sprintf("198.%d.%d.%d", 18+l.slot/256, l.slot%256, host)
}

// build makes the namespaces, the bridge and one veth pair per host. Every
// link is created inside the switch namespace with its peer put straight
// into the host's, so the root namespace never sees one.
func (l *Lab) build() error {
	adds := []string{"netns add " + l.sw}
	for _, h := range l.hosts {
		adds = append(adds, "netns add "+h.NS)
	}
	if err := ipBatch("", adds); err != nil {
		return err
	}
	sw := []string{
		"link add " + bridgeIf + " type bridge",
		"link set " + bridgeIf + " up",
	}
	for _, h := range l.hosts {
		sw = append(sw,
			"link add "+h.port+" type veth peer name "+hostIf+" netns "+h.NS,
			"link set "+h.port+" master "+bridgeIf+" up",
		)
	}
	if err := ipBatch(l.sw, sw); err != nil {
		return err
	}
	for _, h := range l.hosts {
		err := ipBatch(h.NS, []string{
			"link set lo up",
			"addr add " + h.IP + "/24 dev " + hostIf,
			"link set " + hostIf + " up",
			"neigh replace " + l.addr(sinkHost) + " lladdr " + sinkMAC + " dev " + hostIf + " nud permanent",
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Hosts returns the lab's hosts in order; the slice is the caller's.
func (l *Lab) Hosts() []*Host {
	return append([]*Host(nil), l.hosts...)
}

// Subnet returns the lab's subnet in CIDR notation.
func (l *Lab) Subnet() string { return l.addr(0) + "/24" }

// Close kills any process still inside the lab's namespaces, removes every
// namespace it made and releases its slot. It is idempotent; after it the
// lab's methods fail.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	names := []string{l.sw}
	for _, h := range l.hosts {
		names = append(names, h.NS)
	}
	err := removeNamespaces(names)
	l.unlock()
	return err
}

// removeNamespaces kills the processes inside the named namespaces (those
// that exist) and deletes them.
func removeNamespaces(names []string) error {
	existing, err := listNamespaces()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, ns := range existing {
		have[ns] = true
	}
	var dels []string
	var errs []error
	for _, ns := range names {
		if !have[ns] {
			continue
		}
		errs = append(errs, killInside(ns))
		dels = append(dels, "netns del "+ns)
	}
	if len(dels) > 0 {
		errs = append(errs, ipBatch("", dels))
	}
	return errors.Join(errs...)
}

// usable fails once the lab is closed.
func (l *Lab) usable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("netlab: lab is closed")
	}
	return nil
}

// claimSlot locks a free slot, removes what a dead lab left in it, and
// returns it with the function that releases it. Slots are tried from a
// random start so concurrent claimants rarely race for the same lock.
func claimSlot() (int, func(), error) {
	dir, err := lockDir()
	if err != nil {
		return 0, nil, err
	}
	start := rand.IntN(slots)
	for i := range slots {
		slot := (start + i) % slots
		unlock, ok, err := tryLock(lockPath(dir, slot))
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			continue
		}
		if err := removeSlot(slot); err != nil {
			unlock()
			return 0, nil, fmt.Errorf("netlab: removing a stale lab in slot %d: %w", slot, err)
		}
		return slot, unlock, nil
	}
	return 0, nil, fmt.Errorf("netlab: all %d slots are in use", slots)
}

// lockDir returns the directory of the slot locks, creating it.
func lockDir() (string, error) {
	const dir = "/run/warren-netlab"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("netlab: %w", err)
	}
	return dir, nil
}

func lockPath(dir string, slot int) string { return fmt.Sprintf("%s/%03d.lock", dir, slot) }

// slotPrefix is how the names of slot's namespaces start.
func slotPrefix(slot int) string { return fmt.Sprintf("%s%03d-", nsPrefix, slot) }

// parseSlot returns the slot of a lab's namespace name.
func parseSlot(ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, nsPrefix)
	if !ok || len(rest) < 4 || rest[3] != '-' {
		return 0, false
	}
	slot, err := strconv.Atoi(rest[:3])
	if err != nil || slot < 0 || slot >= slots {
		return 0, false
	}
	return slot, true
}

// parseProbe returns the pid in the name of Available's probe namespace.
func parseProbe(ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, probePrefix)
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(rest)
	return pid, err == nil && pid > 0
}

// removeSlot removes every namespace of slot, whose lock the caller holds.
func removeSlot(slot int) error {
	all, err := listNamespaces()
	if err != nil {
		return err
	}
	var mine []string
	for _, ns := range all {
		if strings.HasPrefix(ns, slotPrefix(slot)) {
			mine = append(mine, ns)
		}
	}
	return removeNamespaces(mine)
}

// CleanStale removes the namespaces of labs whose process is gone (their
// slot's lock is free), killing whatever still runs inside them, and
// returns how many namespaces it removed. It also removes the probe
// namespace of an Available call whose process died during it. Labs of live processes are left
// alone. New does this for the slot it claims; call CleanStale to tidy up
// after killed test runs.
func CleanStale() (int, error) {
	if err := Available(); err != nil {
		return 0, err
	}
	dir, err := lockDir()
	if err != nil {
		return 0, err
	}
	all, err := listNamespaces()
	if err != nil {
		return 0, err
	}
	bySlot := map[int][]string{}
	var deadProbes []string
	for _, ns := range all {
		if slot, ok := parseSlot(ns); ok {
			bySlot[slot] = append(bySlot[slot], ns)
		}
		if pid, ok := parseProbe(ns); ok && !processExists(pid) {
			deadProbes = append(deadProbes, ns)
		}
	}
	removed := 0
	var errs []error
	if len(deadProbes) > 0 {
		if err := removeNamespaces(deadProbes); err != nil {
			errs = append(errs, err)
		} else {
			removed += len(deadProbes)
		}
	}
	for slot, names := range bySlot {
		unlock, ok, err := tryLock(lockPath(dir, slot))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // a live lab
		}
		if err := removeNamespaces(names); err != nil {
			errs = append(errs, err)
		} else {
			removed += len(names)
		}
		unlock()
	}
	return removed, errors.Join(errs...)
}
