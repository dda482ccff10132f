// Command warren-node runs one Warren server. With no flags it is a
// single-node broker with its data in ./warren-data and the client API on
// 127.0.0.1:5680. With --bootstrap-expect N and --join it forms (or joins)
// a cluster; see README "Run a 3-zone cluster".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/transport"
	"google.golang.org/grpc"
)

func main() {
	err := run(os.Args[1:])
	var ue usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// --help: the usage went to stdout.
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "warren-node: %v\nRun 'warren-node --help' for usage.\n", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "warren-node:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

type flags struct {
	broker    broker.Config
	grpcAddr  string
	logLevel  string
	maxMsg    int
	caps      transport.Limits // the connection, stream and consumer caps
	memHigh   watermark.Bytes  // publishes are refused past these
	diskLow   watermark.Bytes
	readyWait time.Duration
	pprofAddr string
	security  securityFlags
}

func parseFlags(args []string) (flags, error) {
	f := flags{broker: broker.DefaultConfig()}
	limits := transport.DefaultLimits()
	fs := flag.NewFlagSet("warren-node", flag.ContinueOnError)
	// The flag package prints a parse error and the whole usage itself,
	// and main printed the error again: once, from main, is enough; the
	// usage is printed for --help only (to stdout).
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.broker.Cluster.NodeID, "id", f.broker.Cluster.NodeID, "node id, stable across restarts")
	fs.StringVar(&f.broker.Cluster.DataDir, "data-dir", f.broker.Cluster.DataDir, "directory for Raft logs and snapshots")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:5680", "address of the client gRPC API")
	fs.StringVar(&f.broker.Cluster.RaftAddr, "raft-addr", f.broker.Cluster.RaftAddr, "address of the Raft port (shared by all groups)")
	fs.StringVar(&f.broker.Cluster.Zone, "zone", "", "availability zone of this node (gossiped to peers)")
	fs.StringVar(&f.broker.Cluster.GossipAddr, "gossip-addr", f.broker.Cluster.GossipAddr, "address of the memberlist gossip port (TCP and UDP)")
	join := fs.String("join", "", "comma-separated gossip addresses (host:port) of cluster nodes to join")
	fs.IntVar(&f.broker.Cluster.BootstrapExpect, "bootstrap-expect", f.broker.Cluster.BootstrapExpect, "number of nodes that form a new cluster (1: bootstrap alone unless --join is set)")
	fs.IntVar(&f.broker.QueueGroups, "queue-groups", f.broker.QueueGroups, "number of queue Raft groups")
	fs.DurationVar(&f.broker.SessionGrace, "session-grace", f.broker.SessionGrace, "how long a new leader waits for sessions to re-attach")
	fs.DurationVar(&f.broker.DefaultGetLease, "get-lease", f.broker.DefaultGetLease, "default lease of an unacked get")
	fs.DurationVar(&f.broker.Cluster.DeadNodeRemoval, "remove-dead-after", f.broker.Cluster.DeadNodeRemoval, "remove a node that has been dead (crashed, not stopped) this long from every group, unless that would cost a group its quorum (0: never; use warren cluster remove-node)")
	f.caps = limits
	fs.IntVar(&f.caps.MaxConnections, "max-connections", limits.MaxConnections, "client connections open at once; more are closed as they arrive (0: no limit)")
	fs.IntVar(&f.caps.MaxStreamsPerConnection, "max-streams-per-connection", limits.MaxStreamsPerConnection, "streams (consume, session, calls in flight) of one client connection")
	fs.IntVar(&f.caps.MaxConsumersPerSession, "max-consumers-per-session", limits.MaxConsumersPerSession, "consume streams one session may have open on this node")
	fs.IntVar(&f.maxMsg, "max-message-bytes", limits.MaxMessageBytes, "largest message accepted: body, headers and properties together")
	f.memHigh = watermark.Bytes(watermark.DefaultMemoryHigh())
	// The flag package appends the value's default, computed here, so the
	// text gives only the rule (it gave "(default: …) (default …)").
	fs.Var(&f.memHigh, "memory-high-watermark", "Go heap size (e.g. 512MiB, 2GiB) at which publishes are refused until consumers drain queues; 0 = off; unless given, 40% of physical or cgroup memory (0 when neither can be read), on this machine")
	f.diskLow = watermark.DefaultDiskFreeLow
	fs.Var(&f.diskLow, "disk-free-low-watermark", "free space of the data directory's file system below which publishes are refused; 0 = off")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address (off when empty)")
	fs.BoolVar(&f.broker.Cluster.UnsafeUnsyncedLog, "unsafe-ack-before-fsync", false, "DANGEROUS, for fault-injection tests only: confirm writes before they are fsynced, so a power loss or kill -9 of a majority LOSES CONFIRMED MESSAGES")
	f.security.register(fs)
	fs.DurationVar(&f.readyWait, "ready-timeout", time.Minute, "how long to wait until every Raft group has a leader (in a new cluster: for the peers too) and this node has caught up")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Fprintln(os.Stdout, "Usage of warren-node:")
			fs.PrintDefaults()
			return f, err
		}
		return f, usageError{err}
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	for _, a := range strings.Split(*join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			f.broker.Cluster.Join = append(f.broker.Cluster.Join, a)
		}
	}
	if f.caps.MaxConnections < 0 || f.caps.MaxStreamsPerConnection < 1 || f.caps.MaxConsumersPerSession < 1 {
		return f, usageError{fmt.Errorf("--max-connections must be ≥ 0, --max-streams-per-connection and --max-consumers-per-session ≥ 1")}
	}
	if f.maxMsg < 1 || f.maxMsg > 64<<20 {
		return f, usageError{fmt.Errorf("--max-message-bytes must be 1..%d", 64<<20)}
	}
	return f, nil
}

func run(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "warren", Level: hclog.LevelFromString(f.logLevel), Output: os.Stderr})
	f.broker.Cluster.Logger = logger
	sec, err := f.security.load(&f)
	if err != nil {
		return err
	}
	if f.security.insecure {
		logger.Warn("--insecure: ports beyond loopback may run without TLS or a gossip key")
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := sec.reload(); err != nil {
				logger.Error("reloading certificates failed; the ones in use stay", "error", err)
				continue
			}
			logger.Info("certificates reloaded")
		}
	}()
	if f.broker.Cluster.UnsafeUnsyncedLog {
		logger.Warn("--unsafe-ack-before-fsync: writes are confirmed before they are on disk; a crash loses confirmed messages (tests only)")
	}

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
	// Bind gRPC first: peers learn this node's gRPC address from gossip,
	// which starts with the node (port 0 then names the bound port).
	ln, err := net.Listen("tcp", f.grpcAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	defer ln.Close()
	f.broker.Cluster.GRPCAddr = advertised(f.grpcAddr, ln.Addr())
	b, err := broker.Start(f.broker)
	if err != nil {
		return err
	}
	defer b.Close()
	node := b.Node()
	logger.Info("waiting for the Raft groups", "node", f.broker.Cluster.NodeID, "gossip", node.GossipAddr(),
		"bootstrap_expect", f.broker.Cluster.BootstrapExpect, "join", strings.Join(f.broker.Cluster.Join, ","))
	readyCtx, cancel := context.WithTimeout(ctx, f.readyWait)
	err = b.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("groups not ready: %w", err)
	}
	readyCtx, cancel = context.WithTimeout(ctx, f.readyWait)
	err = b.WaitBootstrapped(readyCtx)
	cancel()
	if err != nil {
		return err
	}
	limits := f.caps
	limits.MaxMessageBytes = f.maxMsg
	clientOpts := append(transport.GRPCOptions(limits), transport.ClientCaps(limits)...)
	if sec.grpcCreds != nil {
		clientOpts = append(clientOpts, sec.grpcCreds)
	}
	api := transport.NewServer(b, limits, logger.Named("api"))
	if f.security.noAuth {
		logger.Warn("--no-auth: every client may do everything")
	} else {
		authn, err := access.NewAuthenticator(b, f.security.accessOptions())
		if err != nil {
			return err
		}
		api.SetAccess(transport.Access{Authenticator: authn, Authorizer: access.NewAuthorizer(b)})
	}
	gs := grpc.NewServer(append(clientOpts, api.Interceptors()...)...)
	nodeAPI := transport.NewNodeServer(b)
	guard := watermark.New(watermark.Config{
		MemoryHigh: uint64(f.memHigh), DiskFreeLow: uint64(f.diskLow), DataDir: f.broker.Cluster.DataDir, Logger: logger.Named("watermark"),
	})
	guard.Start()
	defer guard.Close()
	api.SetResourceGuard(guard)
	nodeAPI.SetResourceGuard(guard)
	logger.Info("watermarks", "memory_high", f.memHigh.String(), "disk_free_low", f.diskLow.String())
	// Clients reach only the BrokerService, on the client port. Peers
	// reach the NodeService, and the BrokerService they proxy client calls
	// to, on the cluster port (node.PeerListener).
	api.Register(gs)
	api.AccessServer().Register(gs)
	peerGS := grpc.NewServer(transport.GRPCOptions(limits)...)
	api.Register(peerGS)
	nodeAPI.Register(peerGS)
	serveErr := make(chan error, 2)
	go func() {
		serveErr <- gs.Serve(transport.LimitConnections(ln, limits.MaxConnections, logger.Named("api")))
	}()
	go func() { _ = peerGS.Serve(node.PeerListener()) }()
	logger.Info("warren-node ready", "node", f.broker.Cluster.NodeID, "grpc", ln.Addr().String(), "raft", node.RaftAddr(), "data", f.broker.Cluster.DataDir)

	select {
	case <-ctx.Done():
		logger.Info("shutting down: handing off leaderships, then ending client streams")
		handOff, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		node.HandOff(handOff)
		cancel()
	case <-node.Left():
		logger.Info("left the cluster; stopping")
	case err := <-serveErr:
		return err
	}
	api.Drain()
	shutdownGRPC(gs, 10*time.Second)
	shutdownGRPC(peerGS, 5*time.Second)
	return b.Close()
}

// advertised is the gRPC address to gossip: the flag's value, or the bound
// address when the flag asked for port 0.
func advertised(flagAddr string, bound net.Addr) string {
	if _, port, err := net.SplitHostPort(flagAddr); err == nil && port == "0" {
		return bound.String()
	}
	return flagAddr
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
