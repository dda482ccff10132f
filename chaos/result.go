package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/warrenmq/warren/chaos/check"
)

// Result is the outcome of a run: the checker's report on the history, and
// what the nemesis did.
type Result struct {
	// Seed replays the run's fault schedule.
	Seed int64 `json:"seed"`
	// Nodes is the cluster size.
	Nodes int `json:"nodes"`
	// Duration is the workload's duration (faults included).
	Duration time.Duration `json:"duration_ns"`
	// Faults are the kinds the schedule drew from.
	Faults []Fault `json:"fault_kinds"`
	// UnsafeAckBeforeFsync tells whether nodes confirmed before fsync.
	UnsafeAckBeforeFsync bool `json:"unsafe_ack_before_fsync"`
	// Injected lists the faults injected, in order.
	Injected []FaultRecord `json:"faults"`
	// Summary aggregates Injected per kind.
	Summary []KindSummary `json:"fault_summary"`
	// NotRun lists the requested kinds no injected fault has, and why:
	// the run was too short to plan them, or the schedule ended before
	// them (the harness's caller may add kinds it left out).
	NotRun []KindNotRun `json:"not_run,omitempty"`
	// Publish counts the workload's publish attempts and their outcomes.
	Publish PublishStats `json:"publish"`
	// Report is the checker's verdict.
	Report check.Report `json:"report"`
	// DataDir holds the node data and logs and history.json.
	DataDir string `json:"data_dir"`
	// Errors are harness failures (a node that did not restart, queues
	// that did not drain). The report of a run with errors may be
	// incomplete.
	Errors []string `json:"errors,omitempty"`
}

// OK reports whether the run lost nothing, delivered nothing unexpected,
// and the harness completed.
func (r *Result) OK() bool { return r.Report.OK() && len(r.Errors) == 0 }

// FaultRecord is one injected fault.
type FaultRecord struct {
	// Step is the planned fault.
	Step Step `json:"step"`
	// Name says what was done, e.g. "kill n2 (leader of q1 for chaos-direct)".
	Name string `json:"name"`
	// Start is when the fault was injected, from the start of the workload.
	Start time.Duration `json:"start_ns"`
	// Healed is when the heal (restart, SIGCONT, network heal) completed,
	// from the start of the workload; for a restart that includes the node
	// being ready to serve.
	Healed time.Duration `json:"healed_ns"`
	// Recovered is how long after the heal the cluster was healthy again
	// (every node serving and seeing all members, every group led); -1
	// when it was not.
	Recovered time.Duration `json:"recovered_ns"`
	// Leaderless is how long after Start some Raft group had no leader
	// that was up; 0 when no group lost its leader; -1 when unknown.
	Leaderless time.Duration `json:"leaderless_ns"`
	// HealTime is how long after Start a publish sent after Start was
	// confirmed on every route: the time clients could not publish
	// somewhere; -1 when some route saw no such confirm.
	HealTime time.Duration `json:"heal_time_ns"`
	// Error is set when injecting or healing failed.
	Error string `json:"error,omitempty"`
}

// KindSummary aggregates the faults of one kind.
type KindSummary struct {
	Kind             Fault         `json:"kind"`
	Count            int           `json:"count"`
	MedianHeal       time.Duration `json:"median_heal_time_ns"`
	MaxHeal          time.Duration `json:"max_heal_time_ns"`
	MedianLeaderless time.Duration `json:"median_leaderless_ns"`
	Errors           int           `json:"errors"`
}

// PublishStats counts the workload's publish attempts.
type PublishStats struct {
	Attempts int64 `json:"attempts"`
	Retries  int64 `json:"retries"`
	Unknown  int64 `json:"unknown"`
	Failed   int64 `json:"failed"`
}

// healTime returns how long after start a publish sent at or after start
// was confirmed on every route (-1 when a route had none).
func healTime(events []confirmEvent, start time.Time) time.Duration {
	first := make([]time.Time, len(routes)+1)
	for _, e := range events {
		if e.sent.Before(start) {
			continue
		}
		if f := first[e.route]; f.IsZero() || e.done.Before(f) {
			first[e.route] = e.done
		}
	}
	var worst time.Duration
	for _, f := range first {
		if f.IsZero() {
			return -1
		}
		worst = max(worst, f.Sub(start))
	}
	return worst
}

// summarize aggregates faults per kind, in the order of AllFaults.
func summarize(faults []FaultRecord) []KindSummary {
	var out []KindSummary
	for _, k := range AllFaults {
		s := KindSummary{Kind: k}
		var heals, leaderless []time.Duration
		for _, f := range faults {
			if f.Step.Kind != k {
				continue
			}
			s.Count++
			if f.Error != "" {
				s.Errors++
			}
			if f.HealTime >= 0 {
				heals = append(heals, f.HealTime)
				s.MaxHeal = max(s.MaxHeal, f.HealTime)
			}
			if f.Leaderless >= 0 {
				leaderless = append(leaderless, f.Leaderless)
			}
		}
		if s.Count == 0 {
			continue
		}
		s.MedianHeal = median(heals)
		s.MedianLeaderless = median(leaderless)
		out = append(out, s)
	}
	return out
}

// median returns the median of ds (the lower middle one), -1 when empty.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// fmtDur renders a measured duration; negative means not measured.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// WriteTable writes the result for people: the faults, a summary per kind,
// the checker's report, and the verdict.
func (r *Result) WriteTable(w io.Writer) error {
	fsync := "fsync before confirm"
	if r.UnsafeAckBeforeFsync {
		fsync = "UNSAFE: confirm before fsync"
	}
	fmt.Fprintf(w, "chaos run: seed %d, %d nodes, %v, faults %s, %s\n\n", r.Seed, r.Nodes, r.Duration, joinFaults(r.Faults), fsync)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTART\tFAULT\tHELD\tLEADERLESS\tHEAL TIME\tRECOVERED\tERROR")
	for i, f := range r.Injected {
		fmt.Fprintf(tw, "%d\t%v\t%s\t%v\t%s\t%s\t%s\t%s\n", i+1, f.Start.Round(100*time.Millisecond), f.Name,
			(f.Healed - f.Start).Round(100*time.Millisecond), fmtDur(f.Leaderless), fmtDur(f.HealTime), fmtDur(f.Recovered), f.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tCOUNT\tMEDIAN HEAL TIME\tMAX HEAL TIME\tMEDIAN LEADERLESS\tERRORS")
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", s.Kind, s.Count, fmtDur(s.MedianHeal), fmtDur(s.MaxHeal), fmtDur(s.MedianLeaderless), s.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range r.NotRun {
		fmt.Fprintf(w, "NOT RUN  %s: %s\n", k.Kind, k.Reason)
	}
	fmt.Fprintf(w, "\npublish attempts %d (retries %d, unknown outcome %d, rejected %d)\n\n",
		r.Publish.Attempts, r.Publish.Retries, r.Publish.Unknown, r.Publish.Failed)
	if err := r.Report.WriteTable(w); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "harness error: %s\n", e)
	}
	verdict := "PASS: nothing confirmed was lost, nothing unexpected was delivered"
	if !r.OK() {
		verdict = "FAIL"
	}
	if r.DataDir != "" {
		verdict += " (data: " + r.DataDir + ")"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
	return nil
}

// WriteJSON writes the result as one indented JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
