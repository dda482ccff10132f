package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// The "raft+grpc" step of warren bench floor is a confirmed publish with
// nothing of Warren's broker in it: a unary gRPC call carrying --size bytes
// whose handler proposes them to a hashicorp/raft group, on Warren's
// segment log in --dir, and answers once the entry is applied. Those are
// the parts Warren is built on (raftgroup is the thin layer Warren's groups
// use), so its latency is the floor of a confirm on this machine for this
// architecture: what the broker adds is the rest. "raft3+grpc" is the same
// with three voters, each with its own directory, listener and Raft
// transport over loopback, in this one process: the floor of a three-node
// confirm when the three nodes share this machine, as the benchmark's
// three-node setup does.

// floorRaftGRPC starts a group of voters (1 or more) and the server, and
// returns the call.
func floorRaftGRPC(ctx context.Context, dir string, size, voters int) (func() error, func(), error) {
	data, err := os.MkdirTemp(dir, "warren-floor-raft-*")
	if err != nil {
		return nil, nil, err
	}
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		_ = os.RemoveAll(data)
	}
	groups, err := openFloorGroups(data, voters, &stops)
	if err != nil {
		stop()
		return nil, nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); floorLeader(groups) == nil; {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, nil, fmt.Errorf("the %d-voter group elected no leader within 10 s", voters)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return nil, nil, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &proposingHealth{groups: groups})
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop()
		return nil, nil, err
	}
	stops = append(stops, func() { _ = cc.Close() })
	op := floorCall(ctx, healthpb.NewHealthClient(cc), size)
	// The first call connects; it is not measured.
	if err := op(); err != nil {
		stop()
		return nil, nil, err
	}
	return op, stop, nil
}

// openFloorGroups opens one voter of group "floor" per directory under
// data, each on its own loopback listener, all bootstrapped with the same
// configuration. Each stop it needs is appended to stops.
func openFloorGroups(data string, voters int, stops *[]func()) ([]*raftgroup.Group, error) {
	muxes := make([]*raftgroup.Mux, voters)
	addrs := make([]string, voters)
	for i := range muxes {
		m, err := listenFloorMux()
		if err != nil {
			return nil, err
		}
		*stops = append(*stops, func() { _ = m.Close() })
		muxes[i], addrs[i] = m, m.Addr().String()
	}
	servers := floorServers(addrs)
	groups := make([]*raftgroup.Group, voters)
	for i, m := range muxes {
		g, err := openFloorVoter(m, servers[i].ID, filepath.Join(data, string(servers[i].ID)), servers)
		if err != nil {
			return nil, err
		}
		*stops = append(*stops, func() { _ = g.Shutdown() })
		groups[i] = g
	}
	return groups, nil
}

// listenFloorMux serves a Raft mux on a loopback port the OS picks.
func listenFloorMux() (*raftgroup.Mux, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := raftgroup.NewMux(ln, nil)
	go func() { _ = m.Serve() }()
	return m, nil
}

// floorServers is the configuration of voters at addrs: floor1, floor2, ...
// in that order, so every voter derives the same ids from the same list.
func floorServers(addrs []string) []raft.Server {
	servers := make([]raft.Server, len(addrs))
	for i, addr := range addrs {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID("floor" + strconv.Itoa(i+1)), Address: raft.ServerAddress(addr)}
	}
	return servers
}

// openFloorVoter opens voter id of group "floor" on m, bootstrapped with
// servers.
func openFloorVoter(m *raftgroup.Mux, id raft.ServerID, dir string, servers []raft.Server) (*raftgroup.Group, error) {
	return raftgroup.Open(raftgroup.Options{
		Name: "floor", NodeID: string(id), DataDir: dir, FSM: &floorFSM{},
		Layer: m.Layer("floor"), Config: raftgroup.DefaultConfig(), Bootstrap: true, BootstrapServers: servers,
	})
}

// floorCall returns the step's operation: a health check whose service
// name is size bytes, the entry the handler proposes (a string field like
// any other, which is all this needs).
func floorCall(ctx context.Context, hc healthpb.HealthClient, size int) func() error {
	req := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", size)}
	return func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := hc.Check(cctx, req)
		return err
	}
}

// floorLeader returns the voter that leads, or nil during an election.
func floorLeader(groups []*raftgroup.Group) *raftgroup.Group {
	for _, g := range groups {
		if g.IsLeader() {
			return g
		}
	}
	return nil
}

// proposingHealth answers a health check once its service name, as an
// entry, is applied by the leader of the group.
type proposingHealth struct {
	healthpb.UnimplementedHealthServer
	groups []*raftgroup.Group
}

func (p *proposingHealth) Check(ctx context.Context, r *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	g := floorLeader(p.groups)
	if g == nil {
		return nil, errors.New("the group has no leader")
	}
	if _, _, err := raftgroup.Propose[uint64](ctx, g, []byte(r.GetService())); err != nil {
		return nil, fmt.Errorf("propose: %w", err)
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// floorFSM counts the entries it applies; its snapshots are empty.
type floorFSM struct{ n uint64 }

func (f *floorFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.n++
	}
	return f.n
}

func (f *floorFSM) Snapshot() (raft.FSMSnapshot, error) { return floorSnapshot{}, nil }

func (f *floorFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type floorSnapshot struct{}

func (floorSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (floorSnapshot) Release()                             {}
