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
func plan(seed int64, faults []Fault, nodes, queues int, duration, hold, quiet time.Duration) []Step {
	if len(faults) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6368616f73)) // "chaos"
	jitter := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * (0.5 + rng.Float64()))
	}
	var steps []Step
	at := quiet
	for {
		s := Step{Kind: faults[rng.IntN(len(faults))], At: at, Hold: jitter(hold)}
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
