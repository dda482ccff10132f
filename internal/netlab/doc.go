// Package netlab builds throw-away multi-host networks for tests out of
// Linux network namespaces, so a test can run real processes on separate
// "hosts" with their own addresses and then cut, partition and heal the
// network between them.
//
// # Shape of a lab
//
// A lab is one "switch" namespace holding a Linux bridge, and n host
// namespaces, each with lo up and one veth whose other end is a port of the
// bridge. Host i (from 0) has the address 198.18.S.(i+1)/24 on its eth0,
// where S is the lab's slot (see below); 198.18.0.0/15 is reserved for
// network benchmarks (RFC 2544), so it never collides with a real network.
//
// The root namespace is never touched: every veth pair is created inside
// the switch namespace with its peer placed straight into the host
// namespace, and no address or route is added to the root namespace. A
// consequence is that the test process itself cannot reach 198.18.x.x;
// it reaches the hosts either through processes started inside a host
// (Host.Command) or by creating sockets inside one (Host.Do,
// Host.DialContext, Host.Listen).
//
// # Slots, names and stale labs
//
// Concurrent labs (parallel tests, several test binaries) must not collide
// in their namespace names or subnets. Each lab claims a slot S in
// [0, 512) by holding an exclusive flock(2) on /run/warren-netlab/S.lock
// for its lifetime; the slot picks the subnet (198.18.S.0/24 for S < 256,
// 198.19.(S-256).0/24 above) and prefixes every namespace name:
// "wnlSSS-<name>-sw" for the switch and "wnlSSS-<name>-hI" for host I
// (from 1). A flock is released by the kernel when its holder dies, so the
// namespaces of a slot whose lock is free are stale: New removes those of
// the slot it claims before building, and CleanStale removes all of them.
//
// # Faults
//
// Isolate takes a host's switch port down: the host's eth0 loses carrier
// and every frame to or from it is dropped. Partition and Cut drop traffic
// between pairs of hosts with routes inside the hosts (iptables is not
// available here): host A gets a route to B's /32 via a "sink" next hop
// (198.18.S.254) whose neighbour entry is a MAC address no host has, and
// vice versa. Packets are silently lost on the bridge, as in a real
// partition: connects time out and established connections stall, rather
// than failing at once as with prohibit or blackhole routes (the latter
// make connect return EACCES or EINVAL). Heal removes all of it.
//
// netem is not compiled into this machine's kernel (CONFIG_NET_SCH_NETEM
// is off), so labs offer no delay or loss knobs.
//
// Everything here needs root and Linux; Available says whether labs can be
// built and why not.
package netlab
