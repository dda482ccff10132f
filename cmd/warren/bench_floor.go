package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/warrenmq/warren/internal/bytesize"
	"github.com/warrenmq/warren/internal/fsync"
)

// A confirmed publish at light load is a chain of steps each of which has a
// cost on the machine it runs on, whatever the broker does: the client's
// and the node's goroutines are woken (a parked OS thread each time on an
// idle process), the request crosses loopback TCP through gRPC, and the
// entry is appended and fdatasynced. `warren bench floor` measures those
// steps alone, paced as `warren bench --rate` paces publishes, so that a
// broker's figures can be set against what the machine allows (as
// PostgreSQL's pg_test_fsync does for its WAL). On a VM an fdatasync and a
// thread wake cost far more CPU than on bare metal; this shows how much.

type floorFlags struct {
	rate     float64
	duration time.Duration
	size     bytesize.Size
	dir      string
	json     bool
}

// floorStep is one measured step: its latency and the process CPU it took
// (user and system, every thread: the Go runtime's own wake-ups included).
type floorStep struct {
	Name     string      `json:"name"`
	What     string      `json:"what"`
	Ops      int64       `json:"ops"`
	Latency  latencyJSON `json:"latency"`
	CPUPerOp float64     `json:"cpu_us_per_op"`
	// Cores is the CPU the step takes at the rate: CPUPerOp × rate.
	Cores float64 `json:"cores_at_rate"`
}

type floorResult struct {
	Rate   float64     `json:"rate"`
	Size   int         `json:"size"`
	Dir    string      `json:"dir"`
	Steps  []floorStep `json:"steps"`
	Errors []string    `json:"errors,omitempty"`
}

func newBenchFloorCmd(a *app) *cobra.Command {
	var fl floorFlags
	cmd := &cobra.Command{
		Use:   "floor",
		Short: "Measure what this machine allows a confirmed publish: thread wakes, fdatasync, a gRPC round trip",
		Long: `Measure, each alone and paced at --rate operations a second, the steps every
confirmed publish at light load is made of, whatever the broker. The pacing
is open loop, as warren bench --rate paces publishes: each operation starts
at its scheduled time on a goroutine of its own, so operations overlap when
one outlasts the interval, and each is timed as bench times a confirm.

  timer      the pacing alone: a timer wakes a goroutine (the Go runtime's
             cost of an event on an otherwise idle process); its latency is
             how late the goroutine runs after the time it was due, which
             warren bench --rate counts in every confirm
  hand-off   a goroutine hands a token to a parked one and gets it back
             (two wakes: a request passed to a worker and answered)
  fdatasync  append --size bytes to a file in --dir and fdatasync it (give
             the disk the node's data directory is on)
  grpc       a unary gRPC call (health Check) over loopback TCP, client and
             server in this process
  raft+grpc  a unary call carrying --size bytes whose handler proposes them
             to a one-voter hashicorp/raft group on Warren's segment log in
             --dir and answers once they are applied: a one-node confirm
             with nothing of the broker in it
  raft-procs+grpc
             raft+grpc with the voter a process of its own (this
             executable run again), as a one-node Warren and its clients
             are; its CPU is that of both processes
  raft3+grpc raft+grpc with a three-voter group, its voters in this process,
             each with its own directory and Raft transport over loopback
  raft3-procs+grpc
             the same with each voter a process of its own (this executable
             run again), as a local three-node cluster is; its CPU is that
             of all four processes

For each: latency p50, p99 and max, and the process CPU per operation (user
and system, all threads: rusage; the -procs steps add their voters'), which
is what a node's CPU figure at that rate is made of. Nothing talks to a
node; --server is refused.

A benchmark, not a test: nothing fails on a slow machine.`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseServer(cmd, "bench floor", "talks to no node"); err != nil {
				return err
			}
			switch {
			case fl.rate <= 0 || fl.rate > 100000:
				return usagef("--rate must be above 0 and at most 100000")
			case fl.duration <= 0 || fl.duration > 10*time.Minute:
				return usagef("--duration must be above 0 and at most 10m")
			case fl.size < 1 || fl.size > 16<<20:
				return usagef("--size must be at least 1 byte and at most 16MiB")
			}
			if fl.json {
				a.output = "json"
			}
			return asRunError(runBenchFloor(cmd.Context(), a, &fl))
		},
	}
	f := cmd.Flags()
	f.Float64Var(&fl.rate, "rate", 1000, "operations a second, each step (open loop)")
	f.DurationVar(&fl.duration, "duration", 5*time.Second, "how long each step runs")
	fl.size = 1100 // a 1 KiB body with its entry's framing
	f.Var(&fl.size, "size", "bytes appended before each fdatasync")
	f.StringVar(&fl.dir, "dir", "", "directory for the fdatasync file (default: the system's temporary directory); the file is removed")
	f.BoolVar(&fl.json, "json", false, "print the result as JSON (as -o json)")
	return cmd
}

func runBenchFloor(ctx context.Context, a *app, fl *floorFlags) error {
	dir := fl.dir
	if dir == "" {
		dir = os.TempDir()
	}
	res := floorResult{Rate: fl.rate, Size: int(fl.size), Dir: dir}
	var voter, voters floorProcs
	steps := []struct {
		name, what string
		// late: the latency is how late the op ran, not how long it took
		late  bool
		setup func() (op func() error, done func(), err error)
		// cpu is the CPU the step takes so far; nil: this process's
		cpu func() time.Duration
	}{
		{"timer", "a timer wakes the pacing goroutine (latency: how late)", true, func() (func() error, func(), error) {
			return func() error { return nil }, func() {}, nil
		}, nil},
		{"hand-off", "to a parked goroutine and back", false, floorHandOff, nil},
		{"fdatasync", fmt.Sprintf("append %d bytes, fdatasync", int(fl.size)), false, func() (func() error, func(), error) {
			return floorFdatasync(dir, int(fl.size))
		}, nil},
		{"grpc", "unary call over loopback TCP, both ends", false, func() (func() error, func(), error) {
			return floorGRPC(ctx)
		}, nil},
		{"raft+grpc", fmt.Sprintf("unary call of %d bytes, proposed to a one-voter hashicorp/raft group (segment log)", int(fl.size)), false, func() (func() error, func(), error) {
			return floorRaftGRPC(ctx, dir, int(fl.size), 1)
		}, nil},
		{"raft-procs+grpc", fmt.Sprintf("unary call of %d bytes, proposed to a one-voter hashicorp/raft group (segment log) in a process of its own (CPU: both processes)", int(fl.size)), false, func() (func() error, func(), error) {
			return voter.start(ctx, dir, int(fl.size), 1)
		}, voter.cpu},
		{"raft3+grpc", fmt.Sprintf("unary call of %d bytes, proposed to a three-voter hashicorp/raft group (segment logs, voters in this process on loopback)", int(fl.size)), false, func() (func() error, func(), error) {
			return floorRaftGRPC(ctx, dir, int(fl.size), 3)
		}, nil},
		{"raft3-procs+grpc", fmt.Sprintf("unary call of %d bytes, proposed to a three-voter hashicorp/raft group (segment logs, each voter a process of its own; CPU: all four processes)", int(fl.size)), false, func() (func() error, func(), error) {
			return voters.start(ctx, dir, int(fl.size), 3)
		}, voters.cpu},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		op, done, err := s.setup()
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.name, err))
			continue
		}
		cpu := s.cpu
		if cpu == nil {
			cpu = processCPU
		}
		st, err := paceFloor(ctx, fl.rate, fl.duration, s.late, op, cpu)
		done()
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.name, err))
			continue
		}
		st.Name, st.What = s.name, s.what
		res.Steps = append(res.Steps, st)
	}
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return writeFloorTable(a.stdout, res)
}

// floorInFlight bounds the operations of a step in flight at once; beyond
// it the schedule slips (as --batch bounds warren bench --rate's publishes).
const floorInFlight = 1000

// paceFloor runs op at rate a second for d, open loop as warren bench
// --rate publishes: each op starts at its scheduled time on a goroutine of
// its own, whether or not earlier ones have finished, so ops overlap as
// publishes do when one takes longer than the interval. It returns the
// latencies, timed as bench times a confirm (from the scheduled time when
// the pacing was behind, otherwise from when its timer woke it; with late,
// how late each op started instead), and the CPU per op, as cpu counts it.
// The first error ends the step.
func paceFloor(ctx context.Context, rate float64, d time.Duration, late bool, op func() error, cpu func() time.Duration) (floorStep, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex // guards lat
	lat := newLatencyHistogram()
	record := func(from time.Time) {
		us := max(1, time.Since(from).Microseconds())
		mu.Lock()
		defer mu.Unlock()
		_ = lat.RecordValue(us)
	}
	interval := time.Duration(float64(time.Second) / rate)
	n := int64(d / interval)
	if n < 1 {
		n = 1
	}
	slots := make(chan struct{}, floorInFlight)
	var wg sync.WaitGroup
	cpu0 := cpu()
	start := time.Now()
	t := time.NewTimer(0)
	<-t.C
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		from := at
		if w := time.Until(at); w > 0 {
			t.Reset(w)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			if !late {
				from = time.Now()
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if late {
			record(from)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := op(); err != nil {
				cancel(err)
				return
			}
			if !late {
				record(from)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return floorStep{}, err
	}
	cpu1 := cpu()
	perOp := float64(cpu1-cpu0) / float64(time.Microsecond) / float64(n)
	// n ≥ 1 values recorded: percentiles is not nil.
	return floorStep{Ops: n, Latency: *percentiles(lat), CPUPerOp: perOp, Cores: perOp * rate / 1e6}, nil
}

// floorHandOff passes a token to a goroutine parked on a channel, which
// sends it back on the caller's own channel (ops of an open-loop step may
// overlap).
func floorHandOff() (func() error, func(), error) {
	req := make(chan chan struct{})
	go func() {
		for r := range req {
			r <- struct{}{}
		}
	}()
	return func() error {
		r := make(chan struct{}, 1)
		req <- r
		<-r
		return nil
	}, func() { close(req) }, nil
}

// floorFdatasync appends size bytes to a fresh file in dir and fdatasyncs
// it, as a log store's append does: one append at a time, so overlapping
// ops wait for each other as entries wait for the log.
func floorFdatasync(dir string, size int) (func() error, func(), error) {
	f, err := os.CreateTemp(dir, "warren-floor-*.log")
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, size)
	var mu sync.Mutex
	op := func() error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.Write(buf); err != nil {
			return err
		}
		return fsync.Data(f)
	}
	return op, func() {
		_ = f.Close()
		_ = os.Remove(filepath.Clean(f.Name()))
	}, nil
}

// floorGRPC serves gRPC's health service on a loopback port and calls its
// Check over a client connection.
func floorGRPC(ctx context.Context) (func() error, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	hc := healthpb.NewHealthClient(cc)
	op := func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		return err
	}
	// The first call connects; it is not measured.
	if err := op(); err != nil {
		_ = cc.Close()
		srv.Stop()
		return nil, nil, err
	}
	return op, func() {
		_ = cc.Close()
		srv.Stop()
	}, nil
}

func writeFloorTable(w io.Writer, r floorResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "step\tp50\tp99\tmax\tCPU/op\tcores at %.0f/s\twhat\t\n", r.Rate)
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%.3f ms\t%.3f ms\t%.3f ms\t%.0f µs\t%.3f\t%s\t\n", s.Name, s.Latency.P50Ms, s.Latency.P99Ms,
			s.Latency.MaxMs, s.CPUPerOp, s.Cores, s.What)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%.0f ops/s each, fdatasync in %s; CPU is this process's user+system time, all threads\n", r.Rate, r.Dir)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%d step(s) failed", len(r.Errors))
	}
	return nil
}
