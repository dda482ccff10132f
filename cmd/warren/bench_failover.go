package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/chaos"
)

type failoverFlags struct {
	o          chaos.FailoverOptions
	fault      string
	nodeBinary string
	keepData   bool
	json       bool
}

func newBenchFailoverCmd(a *app) *cobra.Command {
	var fl failoverFlags
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure how long publishers and consumers wait when a queue's leader dies",
		Long: `Start --nodes warren-node processes on 127.0.0.1 (OS-picked ports, --no-auth,
a temporary data directory), declare a queue, and --trials times: find the
leader of the queue's Raft group, connect a producer (--rate confirmed
publishes a second, open loop) and a consumer to the other nodes only, let
them run, take the leader away (--fault kill: SIGKILL; pause: SIGSTOP, a
silent leader), and measure from the signal to the new leader's election (from
the nodes' logs), to the first confirm of a message published after it, and to
the first delivery of such a message. Then the node comes back (restart or
SIGCONT) and the next trial waits until the cluster is healthy and its leaders
are spread. Prints each trial and the median and max of each measure.

A benchmark, not a test: a slow trial is reported, never a failure; a trial
that sees nothing within --wait counts as missed. --node-flag passes a flag to
every node (repeatable: --node-flag=--raft-timing-multiplier=2). It starts
its own cluster, so --server is refused.`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseServer(cmd, "bench failover", "starts its own cluster"); err != nil {
				return err
			}
			fl.o.Fault = chaos.FailoverFault(fl.fault)
			if fl.o.Fault != chaos.FailoverKill && fl.o.Fault != chaos.FailoverPause {
				return usagef("--fault must be kill or pause, not %q", fl.fault)
			}
			if fl.json {
				a.output = "json"
			}
			return runBenchFailover(cmd, a, &fl)
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.o.Trials, "trials", 10, "how many times the leader is taken away")
	f.IntVar(&fl.o.Rate, "rate", 100, "confirmed publishes a second (open loop)")
	f.IntVar(&fl.o.Nodes, "nodes", 3, "cluster size: 3 or 5")
	f.StringVar(&fl.fault, "fault", string(chaos.FailoverKill), "kill (SIGKILL, connections reset) or pause (SIGSTOP, a silent leader)")
	f.DurationVar(&fl.o.Wait, "wait", 30*time.Second, "longest wait for the first confirm and delivery after the fault")
	f.StringArrayVar(&fl.o.NodeFlags, "node-flag", nil, "a flag for every warren-node (repeatable)")
	f.StringVar(&fl.nodeBinary, "node-binary", "", "warren-node executable (default: next to warren, else in PATH)")
	f.StringVar(&fl.o.DataDir, "data-dir", "", "directory for node data and logs; must be empty (default: a temporary one, removed afterwards)")
	f.BoolVar(&fl.keepData, "keep-data", false, "keep the temporary data directory (node logs)")
	f.BoolVar(&fl.json, "json", false, "print the result as JSON (as -o json)")
	return cmd
}

func runBenchFailover(cmd *cobra.Command, a *app, fl *failoverFlags) error {
	o := fl.o
	var err error
	if o.NodeBinary, err = findNodeBinary(fl.nodeBinary); err != nil {
		return usageError{err}
	}
	temp := o.DataDir == ""
	if temp {
		if o.DataDir, err = os.MkdirTemp("", "warren-failover-"); err != nil {
			return asRunError(err)
		}
	} else if err := emptyDir(o.DataDir); err != nil {
		return usagef("--data-dir: %v", err)
	}
	o.Log = a.stderr
	fmt.Fprintf(a.stderr, "warren bench failover: data in %s\n", o.DataDir)
	res, err := chaos.Failover(cmd.Context(), o)
	if err != nil {
		return runError{fmt.Errorf("failover bench (data kept in %s): %w", o.DataDir, err)}
	}
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = writeFailoverTable(a.stdout, res)
	}
	if err != nil {
		return asRunError(err)
	}
	if temp && !fl.keepData {
		return asRunError(os.RemoveAll(o.DataDir))
	}
	return nil
}

func writeFailoverTable(w io.Writer, r *chaos.FailoverResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "trial\tgroup\t%s\tnew leader\telected\tfirst confirm\tfirst delivery\t\n", r.Fault)
	for _, t := range r.Trials {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Trial, t.Group, t.Leader, t.NewLeader,
			msDur(t.Elected), msDur(t.FirstConfirm), msDur(t.FirstDelivery), t.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d nodes, %d msg/s, fault %s", r.Nodes, r.Rate, r.Fault)
	if len(r.NodeFlags) > 0 {
		fmt.Fprintf(w, ", node flags %v", r.NodeFlags)
	}
	fmt.Fprintln(w)
	for _, s := range []struct {
		name string
		s    chaos.FailoverStats
	}{{"elected", r.Elected}, {"first confirm", r.Confirm}, {"first delivery", r.Delivery}} {
		fmt.Fprintf(w, "%-15s median %s  max %s  (%d trials, %d missed)\n", s.name, msDur(s.s.Median), msDur(s.s.Max), s.s.N, s.s.Missed)
	}
	return nil
}

// msDur prints d in milliseconds, "-" when it was not measured.
func msDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
