package watermark

import (
	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultMemoryFraction is the share of the machine's memory that
// DefaultMemoryHigh allows the Go heap: the heap is roughly half of what
// the garbage collector lets the process map (GOGC=100), and the rest of
// the machine (page cache for the Raft logs, other processes) needs room.
const DefaultMemoryFraction = 0.4

// DefaultMemoryHigh returns DefaultMemoryFraction of the memory this
// process may use: the smaller of the machine's memory and the memory
// limit of the process's cgroup, when it has one. It returns 0 (no memory
// watermark) when neither can be read.
//
// Both come from github.com/KimMachineGun/automemlimit's memlimit package
// (FromSystem: sysinfo(2)'s total RAM; FromCgroup). It replaced a
// hand-written reader of /sys/fs/cgroup/memory.max that looked only at the
// root of the cgroup file system: right inside a container with its own
// cgroup namespace, but blind to a limit on the node's own cgroup below
// the root — systemd's MemoryMax= on warren-node.service, a Kubernetes
// pod on a host without cgroup namespaces — and to a tighter limit on a
// parent. memlimit finds the process's cgroup in /proc/self/cgroup and
// /proc/self/mountinfo, reads cgroup v2's memory.max up the hierarchy to
// the mount (taking the smallest), and v1's memory.limit_in_bytes and
// hierarchical limit, with unlimited values ("max", v1's page-rounded
// 2⁶³−1) counting as none.
func DefaultMemoryHigh() uint64 {
	total, err := memlimit.FromSystem()
	if err != nil {
		total = 0
	}
	return defaultMemoryHigh(total, cgroupLimit())
}

// defaultMemoryHigh is DefaultMemoryHigh's arithmetic over the machine's
// memory and the cgroup limit, each 0 when unknown.
func defaultMemoryHigh(total, cgroup uint64) uint64 {
	if cgroup > 0 && (total == 0 || cgroup < total) {
		total = cgroup
	}
	return uint64(float64(total) * DefaultMemoryFraction)
}

// cgroupLimit returns the memory limit of this process's cgroup, or 0 when
// there is none or it cannot be read (no cgroups, not Linux).
func cgroupLimit() uint64 {
	n, err := memlimit.FromCgroup()
	if err != nil {
		return 0
	}
	return n
}

// DefaultDiskFreeLow is the default disk free low watermark: enough for
// Raft to finish a snapshot and compact, small enough for a laptop or a CI
// runner with a few GiB free.
const DefaultDiskFreeLow = 256 << 20
