package check

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"time"
)

// DefaultFaultSlack is how long after a fault window ends a duplicate still
// counts as caused by it. A consumer notices a dead connection only after
// the client keepalive (10 s ping + 5 s timeout by default), then reconnects
// with a backoff capped at 2 s, while the queue's group elects a leader and
// returns the lost session's deliveries; 30 s covers that path with margin.
const DefaultFaultSlack = 30 * time.Second

// span is a half-open interval [from, to) of offsets.
type span struct{ from, to time.Duration }

// windows is the union of the fault windows, each extended by the slack,
// as sorted disjoint spans.
type windows []span

// newWindows merges the fault windows of h, each extended by slack.
func newWindows(faults []FaultWindow, slack time.Duration) windows {
	ws := make(windows, 0, len(faults))
	for _, f := range faults {
		to := time.Duration(math.MaxInt64)
		if !f.Open {
			end := max(f.End, f.Start)
			if end <= math.MaxInt64-slack {
				to = end + slack
			}
		}
		ws = append(ws, span{from: f.Start, to: to})
	}
	slices.SortFunc(ws, func(a, b span) int {
		if a.from != b.from {
			return cmp.Compare(a.from, b.from)
		}
		return cmp.Compare(a.to, b.to)
	})
	merged := ws[:0]
	for _, s := range ws {
		if n := len(merged); n > 0 && s.from <= merged[n-1].to {
			merged[n-1].to = max(merged[n-1].to, s.to)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// cover reports whether t falls inside one of the windows.
func (ws windows) cover(t time.Duration) bool {
	// The first span that ends after t is the only candidate.
	i := sort.Search(len(ws), func(i int) bool { return ws[i].to > t })
	return i < len(ws) && ws[i].from <= t
}
