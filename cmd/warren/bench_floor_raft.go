package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// The "raft" step of warren bench floor is a confirmed publish with nothing
// of Warren's broker in it: a unary gRPC call carrying --size bytes whose
// handler proposes them to a one-voter hashicorp/raft group, on Warren's
// segment log in --dir, and answers once the entry is applied. Those are
// the parts Warren is built on (raftgroup is the thin layer Warren's groups
// use), so its latency is the floor of a one-node confirm on this machine
// for this architecture: what the broker adds is the rest.

// floorRaftGRPC starts the group and the server and returns the call.
func floorRaftGRPC(ctx context.Context, dir string, size int) (func() error, func(), error) {
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
	raftLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return nil, nil, err
	}
	mux := raftgroup.NewMux(raftLn, nil)
	go func() { _ = mux.Serve() }()
	stops = append(stops, func() { _ = mux.Close() })
	g, err := raftgroup.Open(raftgroup.Options{
		Name: "floor", NodeID: "floor", DataDir: data, FSM: &floorFSM{},
		Layer: mux.Layer("floor"), Config: raftgroup.DefaultConfig(), Bootstrap: true,
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	stops = append(stops, func() { _ = g.Shutdown() })
	for deadline := time.Now().Add(10 * time.Second); !g.IsLeader(); {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, nil, errors.New("the one-voter group elected no leader within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return nil, nil, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &proposingHealth{g: g})
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop()
		return nil, nil, err
	}
	stops = append(stops, func() { _ = cc.Close() })
	hc := healthpb.NewHealthClient(cc)
	// The request carries the entry: the health check's service name is a
	// string field like any other, which is all this needs.
	req := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", size)}
	op := func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := hc.Check(cctx, req)
		return err
	}
	// The first call connects; it is not measured.
	if err := op(); err != nil {
		stop()
		return nil, nil, err
	}
	return op, stop, nil
}

// proposingHealth answers a health check once its service name, as an
// entry, is applied by the group.
type proposingHealth struct {
	healthpb.UnimplementedHealthServer
	g *raftgroup.Group
}

func (p *proposingHealth) Check(ctx context.Context, r *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if _, _, err := raftgroup.Propose[uint64](ctx, p.g, []byte(r.GetService())); err != nil {
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
