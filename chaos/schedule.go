package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Variants of Pause and Partition.
const (
	targetRandom = "node"   // a node drawn from the seed
	targetLeader = "leader" // the leader of a queue drawn from the seed
	targetRing   = "ring"   // Partition only: a majority ring
)

// Step is one planned fault. Everything in it comes from the seed, so a
// run replays with the same kinds, targets and timing; only who the leader
// of a queue is depends on the run.
type Step struct {
	// Kind is the fault.
	Kind Fault `json:"kind"`
	// At is the planned start, from the start of the workload. A fault
	// never starts before the previous one has healed and the cluster has
	// recovered, so late recoveries push the rest of the plan back.
	At time.Duration `json:"at"`
	// Hold is how long the fault lasts before it is healed.
	Hold time.Duration `json:"hold"`
	// Target is "node" (Node is the target), "leader" (the leader of
	// Queue's group) or, for Partition, "ring".
	Target string `json:"target,omitempty"`
	// Node is the index of the target node (Kill, and Pause or Partition
	// of a node).
	Node int `json:"node"`
	// Queue indexes the workload's queues (KillLeader, and Pause or
	// Partition of a leader).
	Queue int `json:"queue"`
	// Nodes are the indexes of the nodes KillMinority kills.
	Nodes []int `json:"nodes,omitempty"`
}

// plan draws the fault schedule of a run from seed: kinds from faults,
// holds around hold and gaps around quiet (each × [0.5, 1.5)), the first
// fault after a warm-up of quiet, the last one healed before duration.
// nodes is the cluster size and queues the number of workload queues.
//
// Kinds are dealt like cards: each round of len(faults) steps holds every
// kind once, in a seeded order, so a run long enough for that many faults
// runs every requested kind (drawn independently, a short run often
// skipped some). The order comes from a stream of its own, so the other
// draws (holds, targets, gaps) of a seed do not depend on the kinds.
func plan(seed int64, faults []Fault, nodes, queues int, duration, hold, quiet time.Duration) []Step {
	if len(faults) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6368616f73))  // "chaos"
	deck := rand.New(rand.NewPCG(uint64(seed), 0x6b696e6473)) // "kinds"
	jitter := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * (0.5 + rng.Float64()))
	}
	var steps []Step
	var round []int
	at := quiet
	for {
		if len(round) == 0 {
			round = deck.Perm(len(faults))
		}
		// The kind was once drawn here from rng; the draw stays, so that
		// a seed's holds, targets and gaps are what they were.
		_ = rng.IntN(len(faults))
		s := Step{Kind: faults[round[0]], At: at, Hold: jitter(hold)}
		round = round[1:]
		// Draw every field for every kind, so that the plan of one kind
		// does not shift the draws of the next.
		s.Node = rng.IntN(nodes)
		s.Queue = rng.IntN(queues)
		perm := rng.Perm(nodes)
		variant := rng.IntN(3)
		switch s.Kind {
		case Kill:
			s.Target = targetRandom
		case KillLeader:
			s.Target = targetLeader
		case KillMinority:
			s.Nodes = perm[:(nodes-1)/2]
			slices.Sort(s.Nodes)
		case Pause:
			s.Target = []string{targetRandom, targetLeader, targetLeader}[variant]
		case Partition:
			s.Target = []string{targetRandom, targetLeader, targetRing}[variant]
		}
		if s.At+s.Hold >= duration {
			return steps
		}
		steps = append(steps, s)
		at = s.At + s.Hold + jitter(quiet)
	}
}

// KindNotRun is a requested fault kind that a run did not inject, and why.
type KindNotRun struct {
	Kind   Fault  `json:"kind"`
	Reason string `json:"reason"`
}

// notPlanned returns the kinds of faults that steps never draws: the run
// is too short for a full round. The reason says how long a run needs, at
// the mean hold and quiet (recoveries add to it).
func notPlanned(faults []Fault, steps []Step, duration, hold, quiet time.Duration) []KindNotRun {
	planned := map[Fault]bool{}
	for _, s := range steps {
		planned[s.Kind] = true
	}
	var out []KindNotRun
	for _, f := range faults {
		if planned[f] {
			continue
		}
		need := quiet + time.Duration(len(faults))*(hold+quiet)
		out = append(out, KindNotRun{Kind: f, Reason: fmt.Sprintf(
			"not planned: %v fits %d of the %d kinds at a mean hold of %v and quiet of %v; a --duration of about %v or more (plus recoveries) runs each",
			duration, len(steps), len(faults), hold, quiet, need.Round(time.Second))})
	}
	return out
}

// notInjected returns the requested kinds that were planned but that no
// injected fault has, with why the schedule ended before them.
func notInjected(faults []Fault, steps []Step, injected []FaultRecord, stopped string) []KindNotRun {
	ran := map[Fault]bool{}
	for _, f := range injected {
		ran[f.Step.Kind] = true
	}
	var out []KindNotRun
	for _, f := range faults {
		if ran[f] {
			continue
		}
		for _, s := range steps {
			if s.Kind == f {
				out = append(out, KindNotRun{Kind: f, Reason: fmt.Sprintf("planned at %v, not injected: %s", s.At.Round(100*time.Millisecond), stopped)})
				break
			}
		}
	}
	return out
}

// String describes the step for logs: "kill-minority n1,n3 hold 4.2s".
func (s Step) String() string {
	var b strings.Builder
	b.WriteString(string(s.Kind))
	switch {
	case s.Kind == PowerLoss:
		b.WriteString(" all")
	case s.Kind == KillMinority:
		names := make([]string, len(s.Nodes))
		for i, n := range s.Nodes {
			names[i] = nodeName(n)
		}
		b.WriteString(" " + strings.Join(names, ","))
	case s.Target == targetRandom:
		b.WriteString(" " + nodeName(s.Node))
	case s.Target == targetLeader:
		fmt.Fprintf(&b, " leader(queue %d)", s.Queue)
	case s.Target == targetRing:
		b.WriteString(" ring")
	}
	fmt.Fprintf(&b, " hold %v", s.Hold.Round(100*time.Millisecond))
	return b.String()
}

// nodeName is the id of the node with index i.
func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }
