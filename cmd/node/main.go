// Command warren-node runs one Warren server. With no flags it is a
// single-node broker with its data in ./warren-data and the client API on
// 127.0.0.1:5680.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/transport"
	"google.golang.org/grpc"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "warren-node:", err)
		os.Exit(1)
	}
}

type flags struct {
	cluster   cluster.Config
	grpcAddr  string
	logLevel  string
	maxMsg    int
	readyWait time.Duration
	pprofAddr string
}

func parseFlags(args []string) (flags, error) {
	f := flags{cluster: cluster.DefaultConfig()}
	limits := transport.DefaultLimits()
	fs := flag.NewFlagSet("warren-node", flag.ContinueOnError)
	fs.StringVar(&f.cluster.NodeID, "id", f.cluster.NodeID, "node id, stable across restarts")
	fs.StringVar(&f.cluster.DataDir, "data-dir", f.cluster.DataDir, "directory for Raft logs and snapshots")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:5680", "address of the client gRPC API")
	fs.StringVar(&f.cluster.RaftAddr, "raft-addr", f.cluster.RaftAddr, "address of the Raft port (shared by all groups)")
	fs.IntVar(&f.cluster.QueueGroups, "queue-groups", f.cluster.QueueGroups, "number of queue Raft groups")
	fs.DurationVar(&f.cluster.SessionGrace, "session-grace", f.cluster.SessionGrace, "how long a new leader waits for sessions to re-attach")
	fs.DurationVar(&f.cluster.DefaultGetLease, "get-lease", f.cluster.DefaultGetLease, "default lease of an unacked get")
	fs.IntVar(&f.maxMsg, "max-message-bytes", limits.MaxMessageBytes, "largest message body accepted")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address (off when empty)")
	fs.DurationVar(&f.readyWait, "ready-timeout", time.Minute, "how long to wait for the Raft groups to elect leaders")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if f.maxMsg < 1 || f.maxMsg > 64<<20 {
		return f, fmt.Errorf("--max-message-bytes must be 1..%d", 64<<20)
	}
	return f, nil
}

func run(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "warren", Level: hclog.LevelFromString(f.logLevel), Output: os.Stderr})
	f.cluster.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if f.pprofAddr != "" {
		go func() {
			// DefaultServeMux carries net/http/pprof's handlers.
			if err := http.ListenAndServe(f.pprofAddr, nil); err != nil {
				logger.Error("pprof listener failed", "error", err)
			}
		}()
	}
	node, err := cluster.Start(f.cluster)
	if err != nil {
		return err
	}
	defer node.Close()
	readyCtx, cancel := context.WithTimeout(ctx, f.readyWait)
	err = node.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("groups not ready: %w", err)
	}

	ln, err := net.Listen("tcp", f.grpcAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	limits := transport.DefaultLimits()
	limits.MaxMessageBytes = f.maxMsg
	gs := grpc.NewServer(transport.GRPCOptions(limits)...)
	api := transport.NewServer(node, limits, logger.Named("api"))
	api.Register(gs)
	transport.NewNodeServer(node).Register(gs)
	serveErr := make(chan error, 1)
	go func() { serveErr <- gs.Serve(ln) }()
	logger.Info("warren-node ready", "node", f.cluster.NodeID, "grpc", ln.Addr().String(), "raft", node.RaftAddr(), "data", f.cluster.DataDir)

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		return err
	}
	api.Drain()
	shutdownGRPC(gs, 10*time.Second)
	return node.Close()
}

// shutdownGRPC lets in-flight calls finish, but not forever: consume
// streams never end on their own.
func shutdownGRPC(gs *grpc.Server, wait time.Duration) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		gs.Stop()
	}
}
