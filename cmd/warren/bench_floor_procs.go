package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// The "raft3-procs+grpc" step is raft3+grpc with each voter in a process
// of its own, as the three nodes of the benchmark's local cluster are.
// Three processes on a machine pay what one does not: every message
// between voters wakes a parked process (its network poller, then a
// thread for it), where voters in one process find a thread of their own
// runtime awake. The difference between the two steps is that price.
// "raft-procs+grpc" is raft+grpc with its one voter in a process apart
// from the caller's, as a one-node Warren and its clients are: each call
// then wakes two runtimes, not one.
//
// The voters are this executable run again with floorVoterEnv set to
// the voter's data directory. A voter listens on two loopback ports the
// OS picks, prints them on a line ("raft grpc"), reads the voters'
// raft addresses on a line from its stdin, bootstraps the group with
// them, serves the proposing health check on its grpc port, and shuts
// down when its stdin closes.

// floorVoterEnv, set in a warren process's environment, makes it a voter
// of the raft3-procs+grpc step instead of the CLI.
const floorVoterEnv = "WARREN_BENCH_FLOOR_VOTER"

// floorVoterMain runs the process as a floor voter when floorVoterEnv
// asks it to, and returns its exit code; ok is false otherwise.
func floorVoterMain() (code int, ok bool) {
	dir := os.Getenv(floorVoterEnv)
	if dir == "" {
		return 0, false
	}
	if err := runFloorVoter(dir, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench floor voter: %v\n", err)
		return 1, true
	}
	return 0, true
}

// runFloorVoter is one voter process: see above.
func runFloorVoter(dir string, in io.Reader, out io.Writer) error {
	mux, err := listenFloorMux()
	if err != nil {
		return err
	}
	defer func() { _ = mux.Close() }()
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "%s %s\n", mux.Addr(), grpcLn.Addr()); err != nil {
		return err
	}
	lines := bufio.NewScanner(in)
	if !lines.Scan() {
		return errors.New("no voter addresses on stdin")
	}
	servers := floorServers(strings.Split(lines.Text(), ","))
	i := slices.IndexFunc(servers, func(s raft.Server) bool { return string(s.Address) == mux.Addr().String() })
	if i < 0 {
		return fmt.Errorf("this voter's address %s is not among %q", mux.Addr(), lines.Text())
	}
	g, err := openFloorVoter(mux, servers[i].ID, dir, servers)
	if err != nil {
		return err
	}
	defer func() { _ = g.Shutdown() }()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &proposingHealth{groups: []*raftgroup.Group{g}})
	go func() { _ = srv.Serve(grpcLn) }()
	defer srv.Stop()
	_, _ = io.Copy(io.Discard, in) // until the step's stop closes stdin
	return nil
}

// floorProcs is a step's voter processes while it runs.
type floorProcs struct {
	procs []*exec.Cmd
}

// start starts n voters and returns the call, to the leader's grpc port,
// and the stop.
func (p *floorProcs) start(ctx context.Context, dir string, size, n int) (func() error, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	data, err := os.MkdirTemp(dir, "warren-floor-procs-*")
	if err != nil {
		return nil, nil, err
	}
	var stdins []io.WriteCloser
	var conns []*grpc.ClientConn
	stop := func() {
		for _, cc := range conns {
			_ = cc.Close()
		}
		for _, in := range stdins {
			_ = in.Close()
		}
		for _, c := range p.procs {
			waited := make(chan struct{})
			go func() {
				_ = c.Wait()
				close(waited)
			}()
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				_ = c.Process.Kill()
				<-waited
			}
		}
		p.procs = nil
		_ = os.RemoveAll(data)
	}
	var raftAddrs, grpcAddrs []string
	for i := range n {
		c := exec.Command(exe)
		c.Env = append(os.Environ(), floorVoterEnv+"="+filepath.Join(data, "voter"+strconv.Itoa(i+1)))
		c.Stderr = os.Stderr
		in, err := c.StdinPipe()
		if err != nil {
			stop()
			return nil, nil, err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			stop()
			return nil, nil, err
		}
		if err := c.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		p.procs = append(p.procs, c)
		stdins = append(stdins, in)
		var raftAddr, grpcAddr string
		if _, err := fmt.Fscanln(out, &raftAddr, &grpcAddr); err != nil {
			stop()
			return nil, nil, fmt.Errorf("voter %d: its addresses: %w", i+1, err)
		}
		raftAddrs, grpcAddrs = append(raftAddrs, raftAddr), append(grpcAddrs, grpcAddr)
	}
	for _, in := range stdins {
		if _, err := io.WriteString(in, strings.Join(raftAddrs, ",")+"\n"); err != nil {
			stop()
			return nil, nil, err
		}
	}
	var calls []func() error
	for _, addr := range grpcAddrs {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			stop()
			return nil, nil, err
		}
		conns = append(conns, cc)
		calls = append(calls, floorCall(ctx, healthpb.NewHealthClient(cc), size))
	}
	// The leader is the voter whose call succeeds; the first call to it
	// is not measured.
	for deadline := time.Now().Add(10 * time.Second); ; {
		for _, call := range calls {
			if call() == nil {
				return call, stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, nil, fmt.Errorf("the %d voter process(es) elected no leader within 10 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cpu is the CPU time of this process and of the voters while they run:
// the step's CPU is that of all four, as a cluster's is that of its nodes
// (and here the load generator's side of the call).
func (p *floorProcs) cpu() time.Duration {
	total := processCPU()
	for _, c := range p.procs {
		total += procCPU(c.Process.Pid)
	}
	return total
}

// procCPU is the user and system time of process pid so far, from
// /proc/<pid>/stat (in clock ticks of 10 ms, USER_HZ on Linux); 0 when it
// cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count the fields after its closing one. utime and stime are fields
	// 14 and 15.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
