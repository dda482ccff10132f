package chaos

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/warrenmq/warren/internal/netlab"
)

// Fault is a kind of fault the nemesis injects.
type Fault string

// The fault kinds, as named on the command line (--faults).
const (
	// Kill sends SIGKILL to one node chosen at random and restarts it
	// after the fault's hold time.
	Kill Fault = "kill"
	// KillLeader sends SIGKILL to the leader of a chosen queue's Raft
	// group and restarts it after the hold time.
	KillLeader Fault = "kill-leader"
	// KillMinority sends SIGKILL to a minority of the nodes at once (1 of
	// 3, 2 of 5) and restarts them after the hold time.
	KillMinority Fault = "kill-minority"
	// Pause stops one node (a random one, or a chosen queue's leader) with
	// SIGSTOP and resumes it with SIGCONT after the hold time.
	Pause Fault = "pause"
	// Partition cuts the network, inside network namespaces: one node
	// isolated, the leader of a chosen queue isolated, or a "majority
	// ring" where no two nodes see the same majority. Needs root and
	// internal/netlab.
	Partition Fault = "partition"
	// PowerLoss sends SIGKILL to every node at once and restarts them all
	// after the hold time. With fsync before confirm nothing confirmed is
	// lost; with --unsafe-ack-before-fsync the run shows the loss.
	PowerLoss Fault = "power-loss"
)

// AllFaults lists every fault kind, in the order of the documentation.
var AllFaults = []Fault{Kill, KillLeader, KillMinority, Pause, Partition, PowerLoss}

// ParseFaults parses a comma-separated list of fault kinds ("all" for
// every kind). Duplicates are dropped; the order is kept.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "all":
			for _, k := range AllFaults {
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
		case slices.Contains(AllFaults, Fault(f)):
			if !slices.Contains(out, Fault(f)) {
				out = append(out, Fault(f))
			}
		default:
			return nil, fmt.Errorf("unknown fault %q (known: %s, all)", f, joinFaults(AllFaults))
		}
	}
	return out, nil
}

func joinFaults(fs []Fault) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

// Options configures Run. Zero values take the defaults named on each field
// (see DefaultOptions).
type Options struct {
	// Nodes is the cluster size: 3 or 5.
	Nodes int
	// NodeBinary is the path of the warren-node executable. Required.
	NodeBinary string
	// DataDir holds one directory per node, the node logs and, at the end,
	// history.json. Required; Run does not remove it.
	DataDir string
	// Duration is how long the workload runs while faults are injected;
	// the final heal and the drain come after it.
	Duration time.Duration
	// Faults are the kinds the schedule draws from; empty means no faults
	// (a baseline run).
	Faults []Fault
	// FaultDuration is the mean hold time of a fault (each is drawn from
	// [0.5, 1.5) × FaultDuration). Default 5s.
	FaultDuration time.Duration
	// Quiet is the mean pause between the recovery of one fault and the
	// next one (drawn like FaultDuration), and the warm-up before the
	// first. Default 8s.
	Quiet time.Duration
	// Rate is the total publish rate of all producers, messages per second.
	// Default 200.
	Rate int
	// Seed makes the fault schedule (kinds, targets, timing) and the
	// workload's routing choices reproducible.
	Seed int64
	// Producers is the number of concurrent producers besides the one of
	// the ordered queue. Default 4.
	Producers int
	// Consumers is the number of consumers per consumed queue (the ordered
	// queue always has one). Default 2.
	Consumers int
	// Prefetch of the consumers (not of the ordered queue's, which is 1).
	// Default 10.
	Prefetch int
	// MessageBytes is the body size (at least the id). Default 64.
	MessageBytes int
	// UnsafeAckBeforeFsync starts the nodes with --unsafe-ack-before-fsync:
	// a power loss then loses confirmed messages (a test of the checker).
	UnsafeAckBeforeFsync bool
	// NodeFlags are more warren-node flags for every node (Raft timings,
	// --log-store, …), after the harness's own.
	NodeFlags []string
	// Protocol is how producers and consumers talk to the cluster during
	// the run: "grpc" (the Go SDK, the default) or "amqp" (AMQP 0-9-1 with
	// amqp091-go, through every node's --amqp-addr). The final drain uses
	// the SDK either way, which also checks that what AMQP published is
	// what gRPC consumes.
	Protocol string
	// TimeoutScale multiplies the harness's own deadlines (node start,
	// heal, drain) for slow machines; default 1.
	TimeoutScale float64
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultOptions returns the defaults: 3 nodes, 1 minute, every fault
// kind but partition, 200 messages/s.
func DefaultOptions() Options {
	return Options{
		Nodes:         3,
		Duration:      time.Minute,
		Faults:        []Fault{Kill, KillLeader, KillMinority, Pause, PowerLoss},
		FaultDuration: 5 * time.Second,
		Quiet:         8 * time.Second,
		Rate:          200,
		Producers:     4,
		Consumers:     2,
		Prefetch:      10,
		MessageBytes:  64,
		TimeoutScale:  1,
	}
}

// withDefaults fills zero fields from DefaultOptions (not Faults: empty
// Faults is a run without faults).
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Nodes == 0 {
		o.Nodes = d.Nodes
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.FaultDuration == 0 {
		o.FaultDuration = d.FaultDuration
	}
	if o.Quiet == 0 {
		o.Quiet = d.Quiet
	}
	if o.Rate == 0 {
		o.Rate = d.Rate
	}
	if o.Producers == 0 {
		o.Producers = d.Producers
	}
	if o.Consumers == 0 {
		o.Consumers = d.Consumers
	}
	if o.Prefetch == 0 {
		o.Prefetch = d.Prefetch
	}
	if o.MessageBytes == 0 {
		o.MessageBytes = d.MessageBytes
	}
	if o.TimeoutScale <= 0 {
		o.TimeoutScale = d.TimeoutScale
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// validate checks o after withDefaults.
func (o Options) validate() error {
	var errs []error
	if o.Protocol != "" && o.Protocol != "grpc" && o.Protocol != "amqp" {
		return fmt.Errorf("protocol %q: grpc or amqp", o.Protocol)
	}
	if o.Nodes != 3 && o.Nodes != 5 {
		errs = append(errs, fmt.Errorf("nodes must be 3 or 5, not %d", o.Nodes))
	}
	if o.NodeBinary == "" {
		errs = append(errs, errors.New("no warren-node binary given"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("no data dir given"))
	}
	if o.Duration < time.Second {
		errs = append(errs, fmt.Errorf("duration %v is shorter than 1s", o.Duration))
	}
	if o.FaultDuration < 100*time.Millisecond || o.Quiet < 100*time.Millisecond {
		errs = append(errs, errors.New("fault duration and quiet interval must be at least 100ms"))
	}
	if o.Rate < 1 || o.Rate > 100000 {
		errs = append(errs, fmt.Errorf("rate must be 1..100000 messages/s, not %d", o.Rate))
	}
	if o.Producers < 1 || o.Producers > 64 || o.Consumers < 1 || o.Consumers > 64 {
		errs = append(errs, errors.New("producers and consumers must be 1..64"))
	}
	if o.Prefetch < 1 || o.Prefetch > 10000 {
		errs = append(errs, fmt.Errorf("prefetch must be 1..10000, not %d", o.Prefetch))
	}
	if o.MessageBytes < 1 || o.MessageBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("message size must be 1..%d bytes", 1<<20))
	}
	return errors.Join(errs...)
}

// scaled multiplies d by TimeoutScale.
func (o Options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.TimeoutScale)
}

// PartitionsAvailable returns nil when Partition faults can run here
// (Linux, root, iproute2, network namespaces), else why not.
func PartitionsAvailable() error { return netlab.Available() }
