package watermark

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// DefaultMemoryFraction is the share of the machine's memory that
// DefaultMemoryHigh allows the Go heap: the heap is roughly half of what
// the garbage collector lets the process map (GOGC=100), and the rest of
// the machine (page cache for the Raft logs, other processes) needs room.
const DefaultMemoryFraction = 0.4

// DefaultMemoryHigh returns DefaultMemoryFraction of the memory this
// process may use: the smaller of MemTotal in /proc/meminfo and the cgroup
// (v2 memory.max, or v1 memory.limit_in_bytes) limit, when there is one.
// It returns 0 (no memory watermark) when neither can be read, e.g. on a
// system without /proc.
func DefaultMemoryHigh() uint64 {
	total := memTotal("/proc/meminfo")
	if lim := cgroupLimit(); lim > 0 && (total == 0 || lim < total) {
		total = lim
	}
	return uint64(float64(total) * DefaultMemoryFraction)
}

// memTotal reads MemTotal (in kB) from a meminfo file; 0 when unreadable.
func memTotal(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit returns the memory limit of this process's cgroup, or 0 when
// there is none or it cannot be read. "max" (v2) and the huge v1 value
// that means "unlimited" count as none.
func cgroupLimit() uint64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n >= 1<<60 {
			return 0
		}
		return n
	}
	return 0
}

// DefaultDiskFreeLow is the default disk free low watermark: enough for
// Raft to finish a snapshot and compact, small enough for a laptop or a CI
// runner with a few GiB free.
const DefaultDiskFreeLow = 256 << 20
