package netlab

import (
	"errors"
	"fmt"
)

// Isolate cuts host h off from every other host by taking its port on the
// switch down: h's eth0 loses carrier and frames either way are dropped.
// Connections within h (to its own address) keep working. Reconnect undoes
// it; Heal does too.
func (l *Lab) Isolate(h *Host) error {
	return l.setPort(h, "down")
}

// Reconnect brings host h's switch port up again after Isolate. Cuts made
// by Partition or Cut stay.
func (l *Lab) Reconnect(h *Host) error {
	return l.setPort(h, "up")
}

func (l *Lab) setPort(h *Host, state string) error {
	if err := l.check(h); err != nil {
		return err
	}
	return ipBatch(l.sw, []string{"link set " + h.port + " " + state})
}

// Partition splits the hosts into sides: hosts in different sides cannot
// reach each other in either direction; hosts in the same side can. Every
// host of the lab must be listed in exactly one side (a host left out would
// make its connectivity a guess). Partition replaces the cuts of earlier
// Partition and Cut calls; isolated hosts stay isolated. One side lists
// every host and just removes the cuts.
func (l *Lab) Partition(sides ...[]*Host) error {
	sideOf := map[*Host]int{}
	for s, side := range sides {
		if len(side) == 0 {
			return fmt.Errorf("netlab: partition side %d is empty", s)
		}
		for _, h := range side {
			if err := l.check(h); err != nil {
				return err
			}
			if prev, dup := sideOf[h]; dup {
				return fmt.Errorf("netlab: host %s is in sides %d and %d", h.Name, prev, s)
			}
			sideOf[h] = s
		}
	}
	if len(sideOf) != len(l.hosts) {
		var missing []string
		for _, h := range l.hosts {
			if _, ok := sideOf[h]; !ok {
				missing = append(missing, h.Name)
			}
		}
		return fmt.Errorf("netlab: partition leaves out hosts %v (list every host)", missing)
	}
	var errs []error
	for _, h := range l.hosts {
		lines := []string{"route flush proto " + cutProto}
		for _, o := range l.hosts {
			if sideOf[o] != sideOf[h] {
				lines = append(lines, l.cutRoute(o))
			}
		}
		errs = append(errs, ipBatch(h.NS, lines))
	}
	return errors.Join(errs...)
}

// Cut removes connectivity between exactly hosts a and b, in both
// directions, leaving every other pair as it is. Several cuts make
// partitions Partition cannot express, such as a "majority ring" where each
// node sees a different majority. Cutting a pair twice is harmless.
func (l *Lab) Cut(a, b *Host) error {
	if err := l.check(a); err != nil {
		return err
	}
	if err := l.check(b); err != nil {
		return err
	}
	if a == b {
		return fmt.Errorf("netlab: cannot cut host %s from itself", a.Name)
	}
	return errors.Join(
		ipBatch(a.NS, []string{l.cutRoute(b)}),
		ipBatch(b.NS, []string{l.cutRoute(a)}),
	)
}

// cutRoute is the route that sends traffic for host to the sink, where it
// is silently lost.
func (l *Lab) cutRoute(to *Host) string {
	return "route replace " + to.IP + "/32 via " + l.addr(sinkHost) + " dev " + hostIf + " proto " + cutProto
}

// Heal restores full connectivity: every switch port up and every cut
// removed. (There is no netem state to remove: see the package doc.)
func (l *Lab) Heal() error {
	if err := l.usable(); err != nil {
		return err
	}
	var errs []error
	var ports []string
	for _, h := range l.hosts {
		ports = append(ports, "link set "+h.port+" up")
		errs = append(errs, ipBatch(h.NS, []string{"route flush proto " + cutProto}))
	}
	errs = append(errs, ipBatch(l.sw, ports))
	return errors.Join(errs...)
}

// check fails unless h is one of the lab's hosts and the lab is open.
func (l *Lab) check(h *Host) error {
	if h == nil || h.lab != l {
		return errors.New("netlab: host is not one of this lab's")
	}
	return l.usable()
}
