package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/chaos"
	"github.com/warrenmq/warren/internal/bytesize"
)

func newChaosCmd(a *app) *cobra.Command {
	return group("chaos", "Fault-injection tests of a Warren cluster", newChaosRunCmd(a))
}

type chaosFlags struct {
	o          chaos.Options
	faults     string
	seed       int64
	jsonPath   string
	keepData   bool
	nodeBinary string
	size       bytesize.Size // --size, into o.MessageBytes
}

func newChaosRunCmd(a *app) *cobra.Command {
	fl := chaosFlags{o: chaos.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a cluster of warren-node processes under faults and check that nothing confirmed is lost",
		Long: `Start --nodes warren-node processes on this machine (127.0.0.1, OS-picked
ports; in network namespaces when partitions are among the faults), run
producers with confirms and consumers with manual acks against them for
--duration, and inject one fault at a time from --faults on a schedule drawn
from --seed: kill (SIGKILL of a random node, restarted after the hold),
kill-leader (of a queue's Raft group), kill-minority (1 of 3, 2 of 5),
pause (SIGSTOP/SIGCONT of a node or a leader), partition (a node or a leader
isolated, or a majority ring; needs root), power-loss (SIGKILL of every node
at once, then a restart). Then heal everything, drain every queue and check
the history: every confirmed message must have been delivered (lost = 0) and
nothing delivered that was not published (unexpected = 0); duplicates are
counted and classified. The same --seed replays the same faults, targets and
timing. Kinds are dealt in rounds, each holding every requested kind once, so
a run long enough for as many faults as kinds runs each; the report lists
under NOT RUN every requested kind that did not run, and why (the run too
short, recoveries that pushed the schedule past --duration, partitions left
out without root). --unsafe-ack-before-fsync makes the nodes confirm before
fsync: with power-loss faults the run then shows lost messages.

The run starts its own cluster, so --server is refused. Exit status 1
when something was lost or delivered unexpectedly, or the harness failed;
the data directory (node data, node logs, history.json) is then kept.`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseServer(cmd, "chaos run", "starts its own cluster"); err != nil {
				return err
			}
			return runChaos(cmd, a, &fl)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&fl.o.Duration, "duration", 2*time.Minute, "how long the workload runs under faults (heal and drain come after)")
	f.StringVar(&fl.faults, "faults", "all", "comma-separated faults: kill,kill-leader,kill-minority,pause,partition,power-loss, or all (all leaves out partition where namespaces are not available)")
	f.IntVar(&fl.o.Rate, "rate", fl.o.Rate, "total publish rate, messages per second")
	f.Int64Var(&fl.seed, "seed", 0, "seed of the fault schedule (0: a random one, printed)")
	f.IntVar(&fl.o.Nodes, "nodes", fl.o.Nodes, "cluster size: 3 or 5")
	f.StringVar(&fl.nodeBinary, "node-binary", "", "warren-node executable (default: next to warren, else in PATH)")
	f.StringVar(&fl.o.DataDir, "data-dir", "", "directory for node data and logs; must be empty (default: a temporary one, removed when the run passes)")
	f.BoolVar(&fl.o.UnsafeAckBeforeFsync, "unsafe-ack-before-fsync", false, "start the nodes confirming before fsync (shows loss on power-loss; for testing the checker)")
	f.DurationVar(&fl.o.FaultDuration, "fault-duration", fl.o.FaultDuration, "mean time a fault lasts before it is healed")
	f.DurationVar(&fl.o.Quiet, "quiet", fl.o.Quiet, "mean quiet time between faults (and before the first)")
	f.IntVar(&fl.o.Producers, "producers", fl.o.Producers, "producers (plus one for the ordered queue)")
	f.IntVar(&fl.o.Consumers, "consumers", fl.o.Consumers, "consumers per queue")
	f.IntVar(&fl.o.Prefetch, "prefetch", fl.o.Prefetch, "consumer prefetch")
	fl.size = bytesize.Size(fl.o.MessageBytes)
	f.Var(&fl.size, "size", "message body size (bytes, or with a unit: 1KiB)")
	f.StringVar(&fl.o.Protocol, "protocol", "grpc", "how the workload's producers and consumers connect: grpc (the Go SDK) or amqp (AMQP 0-9-1 with amqp091-go); the final drain uses the SDK")
	f.StringVar(&fl.jsonPath, "json", "", "also write the result as JSON to this file")
	f.BoolVar(&fl.keepData, "keep-data", false, "keep the temporary data directory even when the run passes")
	return cmd
}

func runChaos(cmd *cobra.Command, a *app, fl *chaosFlags) error {
	o := fl.o
	if fl.size > 1<<30 {
		return usagef("--size %s is too large", fl.size.String())
	}
	o.MessageBytes = int(fl.size)
	faults, err := chaos.ParseFaults(fl.faults)
	if err != nil {
		return usagef("--faults: %v", err)
	}
	var leftOut []chaos.KindNotRun
	if perr := chaos.PartitionsAvailable(); perr != nil && slices.Contains(faults, chaos.Partition) {
		if !cmd.Flags().Changed("faults") || fl.faults == "all" {
			faults = slices.DeleteFunc(faults, func(f chaos.Fault) bool { return f == chaos.Partition })
			fmt.Fprintf(a.stderr, "warren chaos: partitions left out: %v\n", perr)
			leftOut = append(leftOut, chaos.KindNotRun{Kind: chaos.Partition, Reason: "left out of all: " + perr.Error()})
		} else {
			return usagef("--faults partition: %v", perr)
		}
	}
	o.Faults = faults
	o.Seed = fl.seed
	if o.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Seed = int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	}
	if o.NodeBinary, err = findNodeBinary(fl.nodeBinary); err != nil {
		return usageError{err}
	}
	temp := o.DataDir == ""
	if temp {
		if o.DataDir, err = os.MkdirTemp("", "warren-chaos-"); err != nil {
			return asRunError(err)
		}
	} else if err := emptyDir(o.DataDir); err != nil {
		return usagef("--data-dir: %v", err)
	}
	o.Log = a.stderr
	fmt.Fprintf(a.stderr, "warren chaos: seed %d, data in %s\n", o.Seed, o.DataDir)

	res, err := chaos.Run(cmd.Context(), o)
	if err != nil {
		return runError{fmt.Errorf("chaos run (seed %d, data kept in %s): %w", o.Seed, o.DataDir, err)}
	}
	res.NotRun = append(leftOut, res.NotRun...) // the report says which kinds did not run, and why
	remove := temp && !fl.keepData && res.OK()
	if remove {
		res.DataDir = "" // about to go
	}
	if fl.jsonPath != "" {
		if err := writeJSONFile(fl.jsonPath, res.WriteJSON); err != nil {
			return asRunError(err)
		}
	}
	if a.output == "json" {
		err = res.WriteJSON(a.stdout)
	} else {
		err = res.WriteTable(a.stdout)
	}
	if err != nil {
		return asRunError(err)
	}
	if !res.OK() {
		return runError{fmt.Errorf("chaos run failed (seed %d): %d lost, %d unexpected, %d harness errors; data kept in %s",
			res.Seed, res.Report.Lost, res.Report.Unexpected, len(res.Errors), o.DataDir)}
	}
	if remove {
		if err := os.RemoveAll(o.DataDir); err != nil {
			return asRunError(err)
		}
	}
	return nil
}

// findNodeBinary returns flag, else warren-node next to this executable,
// else warren-node in PATH.
func findNodeBinary(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("--node-binary: %w", err)
		}
		return flag, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "warren-node")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("warren-node"); err == nil {
		return p, nil
	}
	return "", errors.New("warren-node not found next to warren or in PATH: build it (go build -o warren-node ./cmd/node) or pass --node-binary")
}

// emptyDir creates dir if needed and fails unless it is empty: founding
// nodes need empty data directories.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

func writeJSONFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}

// refuseServer refuses --server given on the command line of a command
// (name) that uses no server it is given (why: it starts its own cluster,
// it talks to no node): the flag would otherwise be ignored.
// WARREN_SERVER in the environment is left alone: it is meant for every
// command of a shell.
func refuseServer(cmd *cobra.Command, name, why string) error {
	if f := cmd.Flag("server"); f != nil && f.Changed {
		return usagef("%s %s: --server %s is not used; leave it out", name, why, f.Value.String())
	}
	return nil
}
