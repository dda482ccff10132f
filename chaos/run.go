package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warrenmq/warren/chaos/check"
	"github.com/warrenmq/warren/internal/netlab"
)

// Run starts a cluster of o.Nodes warren-node processes, runs the workload
// for o.Duration while the seeded schedule injects faults one at a time,
// heals everything, drains every queue and checks the history. It returns
// an error only when there is nothing to report (bad options, a cluster
// that never formed); failures during the run are in Result.Errors, and
// losses in Result.Report. The nodes are killed before Run returns; their
// data and logs stay in o.DataDir, with the history in history.json.
func Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	withLab := slices.Contains(o.Faults, Partition)
	if withLab {
		if err := netlab.Available(); err != nil {
			return nil, fmt.Errorf("partition faults need network namespaces: %w", err)
		}
	}
	steps := plan(o.Seed, o.Faults, o.Nodes, len(queueNames), o.Duration, o.FaultDuration, o.Quiet)
	res := &Result{
		Seed: o.Seed, Nodes: o.Nodes, Duration: o.Duration, Faults: o.Faults,
		UnsafeAckBeforeFsync: o.UnsafeAckBeforeFsync, DataDir: o.DataDir,
	}
	logf(o, "seed %d: %d faults planned over %v (%s)", o.Seed, len(steps), o.Duration, joinFaults(o.Faults))
	unplanned := notPlanned(o.Faults, steps, o.Duration, o.FaultDuration, o.Quiet)
	for _, k := range unplanned {
		logf(o, "%s will not run: %s", k.Kind, k.Reason)
	}

	c, err := startCluster(ctx, o, withLab)
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	defer c.close()
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.id+"="+n.grpcAddr)
	}
	where := "loopback"
	if c.lab != nil {
		where = "network namespaces " + c.lab.Subnet()
	}
	logf(o, "cluster up on %s: %s", where, strings.Join(addrs, " "))

	rec := check.NewRecorder()
	w := newWorkload(o, c, rec)
	defer w.close()
	admin, err := w.newClient(ctx, newRand(o.Seed, 98))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := declareTopology(ctx, c, admin, o.scaled(60*time.Second)); err != nil {
		return nil, err
	}
	nem := newNemesis(c)
	mon := startMonitor(ctx, c, nem.up)
	if err := w.start(ctx); err != nil {
		w.stopConsumers()
		mon.close()
		return nil, fmt.Errorf("start the workload: %w", err)
	}
	start := time.Now()
	starts, stopped := runSchedule(ctx, o, c, nem, rec, steps, start, res)
	res.NotRun = append(unplanned, notInjected(o.Faults, steps, res.Injected, stopped)...)
	sleepUntil(ctx, start.Add(o.Duration))

	logf(o, "workload done; healing everything")
	if err := nem.healAll(ctx, o.scaled(2*time.Minute)); err != nil {
		res.Errors = append(res.Errors, "final heal: "+err.Error())
	}
	w.stopProducers()
	w.stopConsumers()
	logf(o, "producers stopped; draining every queue")
	if err := w.drain(ctx, 3*time.Second, o.scaled(time.Minute), o.scaled(3*time.Minute)); err != nil {
		res.Errors = append(res.Errors, "drain: "+err.Error())
		// The nodes' goroutines, in their logs, show where a stuck
		// queue waits: the evidence a rerun may not reproduce.
		c.dumpStacks()
	}
	mon.close()

	events := w.confirmEvents()
	for i := range res.Injected {
		f := &res.Injected[i]
		end := time.Time{}
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		f.Leaderless = mon.leaderless(starts[i], end)
		f.HealTime = healTime(events, starts[i])
	}
	res.Summary = summarize(res.Injected)
	res.Publish = PublishStats{Attempts: w.attempts.Load(), Retries: w.retries.Load(), Unknown: w.unknown.Load(), Failed: w.failed.Load()}
	h := rec.History()
	res.Report = check.Check(h)
	if err := writeHistory(filepath.Join(o.DataDir, "history.json"), h); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, "interrupted: "+ctx.Err().Error())
	}
	logf(o, "done: confirmed %d, lost %d, unexpected %d", res.Report.Confirmed, res.Report.Lost, res.Report.Unexpected)
	return res, nil
}

// runSchedule injects the planned faults one at a time, each after its
// planned start and after the previous one recovered, and records them in
// res.Injected and rec. It returns the injection times, and why it stopped
// before the end of the plan ("" when it did not). It stops early when
// the cluster does not recover, or when the next fault would not heal
// before the workload ends.
func runSchedule(ctx context.Context, o Options, c *cluster, nem *nemesis, rec *check.Recorder, steps []Step, start time.Time, res *Result) ([]time.Time, string) {
	var starts []time.Time
	for _, s := range steps {
		if !sleepUntil(ctx, start.Add(s.At)) {
			return starts, "the run was interrupted"
		}
		if time.Since(start)+s.Hold > o.Duration {
			logf(o, "recoveries took longer than planned: %d faults not injected", len(steps)-len(starts))
			return starts, fmt.Sprintf("recoveries took longer than planned, and the workload's %v ended first (a longer --duration, or a shorter --quiet, fits it)", o.Duration)
		}
		t0 := time.Now()
		f := FaultRecord{Step: s, Name: s.String(), Start: t0.Sub(start), Recovered: -1}
		a, err := nem.inject(ctx, s)
		if a != nil {
			// Measure from when the fault hit, not from the look-up of
			// its target.
			t0, f.Name = a.at, a.name
			f.Start = t0.Sub(start)
		}
		if err != nil {
			f.Error = "inject: " + err.Error()
		}
		logf(o, "[%v] %s", f.Start.Round(100*time.Millisecond), f.Name)
		if a != nil {
			sleepUntil(ctx, t0.Add(s.Hold))
			if err := a.heal(ctx); err != nil {
				f.Error = strings.TrimPrefix(f.Error+"; heal: "+err.Error(), "; ")
			}
		}
		healed := time.Now()
		f.Healed = healed.Sub(start)
		if a != nil {
			rec.Fault(f.Name, t0, healed)
		}
		if err := c.waitHealthy(ctx, o.scaled(2*time.Minute)); err != nil {
			f.Error = strings.TrimPrefix(f.Error+"; recover: "+err.Error(), "; ")
		} else {
			f.Recovered = time.Since(healed)
		}
		logf(o, "  healed after %v, healthy %v later %s", (healed.Sub(t0)).Round(100*time.Millisecond), fmtDur(f.Recovered), f.Error)
		res.Injected = append(res.Injected, f)
		starts = append(starts, t0)
		if f.Recovered < 0 {
			// Try once to bring everything back; a cluster that stays
			// broken ends the schedule (and is the finding).
			if err := nem.healAll(ctx, o.scaled(2*time.Minute)); err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("cluster did not recover from %q: %v", f.Name, err))
				return starts, fmt.Sprintf("the schedule stopped: the cluster did not recover from %q", f.Name)
			}
		}
	}
	return starts, ""
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func logf(o Options, format string, args ...any) {
	fmt.Fprintf(o.Log, "chaos: "+format+"\n", args...)
}

// writeHistory saves h as JSON, so a run can be checked again.
func writeHistory(path string, h check.History) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	err = json.NewEncoder(f).Encode(h)
	return errors.Join(err, f.Close())
}
