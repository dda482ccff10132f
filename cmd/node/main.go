// Command warren-node runs one Warren server. With no options it is a
// single-node broker with its data in ./warren-data and the client API on
// 127.0.0.1:5680. With --bootstrap-expect N and --join it forms (or joins)
// a cluster; see README "Run a 3-zone cluster". Options come from flags,
// WARREN_* environment variables and a TOML file (--config), in that order
// of precedence (config.go).
package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/version"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/observe"
	"github.com/warrenmq/warren/transport"
	"google.golang.org/grpc"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Environ(), os.Stdout, os.Stderr, serve))
}

// The stop budget after SIGTERM: the leadership hand-off, then the client
// port's streams and calls, then the cluster port's. The systemd unit's
// TimeoutStopSec must exceed their sum (a test checks it), or systemd
// kills the node in the middle of its hand-off.
const (
	handOffTimeout     = 10 * time.Second
	clientDrainTimeout = 10 * time.Second
	peerDrainTimeout   = 5 * time.Second
)

// serve runs the node the options describe until SIGINT or SIGTERM (a
// clean hand-off), or until it left the cluster.
func serve(f *flags) error {
	logger := hclog.New(&hclog.LoggerOptions{
		Name: "warren", Level: hclog.LevelFromString(f.logLevel), Output: os.Stderr, JSONFormat: f.logFormat == "json",
	})
	f.broker.Cluster.Logger = logger
	f.sources.log(logger)
	sec, err := f.security.load(f)
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
	limits := f.caps
	limits.MaxMessageBytes = int(f.maxMsg)
	conns := transport.LimitConnections(ln, limits.MaxConnections, logger.Named("api"))
	f.broker.Cluster.GRPCAddr = advertised(f.grpcAddr, ln.Addr())
	setMemoryLimit(uint64(f.memHigh), logger)
	b, err := broker.Start(f.broker)
	if err != nil {
		return err
	}
	defer b.Close()
	node := b.Node()
	api := transport.NewServer(b, limits, logger.Named("api"))
	var acc *transport.Access
	if f.security.noAuth {
		logger.Warn("--no-auth: every client may do everything")
	} else {
		authn, err := access.NewAuthenticator(b, f.security.accessOptions())
		if err != nil {
			return err
		}
		acc = &transport.Access{Authenticator: authn, Authorizer: access.NewAuthorizer(b)}
		api.SetAccess(*acc)
	}
	guard := watermark.New(watermark.Config{
		MemoryHigh: uint64(f.memHigh), DiskFreeLow: uint64(f.diskLow), DataDir: f.broker.Cluster.DataDir, Logger: logger.Named("watermark"),
	})
	guard.Start()
	defer guard.Close()
	logger.Info("watermarks", "memory_high", f.memHigh.String(), "disk_free_low", f.diskLow.String())
	// The HTTP endpoint serves from now on: /livez at once, /readyz says
	// what the node waits for.
	web, err := startHTTP(f, sec, b, acc, guard, func() observe.Clients {
		st := api.Stats()
		return observe.Clients{Connections: conns.Open(), ConnectionsRefused: conns.Refused(), Sessions: st.Sessions, ConsumeStreams: st.ConsumeStreams}
	}, limits.MaxMessageBytes, logger)
	if err != nil {
		return err
	}
	if web != nil {
		api.SetObserver(web)
		defer stopHTTP(web)
	}

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
	amqpSrv, err := startAMQP(f, sec, b, acc, guard, logger)
	if err != nil {
		return err
	}
	if amqpSrv != nil {
		defer amqpSrv.Close(clientDrainTimeout)
	}
	clientOpts := append(transport.GRPCOptions(limits), transport.ClientCaps(limits)...)
	if sec.grpcCreds != nil {
		clientOpts = append(clientOpts, sec.grpcCreds)
	}
	gs := grpc.NewServer(append(clientOpts, api.Interceptors()...)...)
	nodeAPI := transport.NewNodeServer(b)
	api.SetResourceGuard(guard)
	nodeAPI.SetResourceGuard(guard)
	// Clients reach only the BrokerService, on the client port. Peers
	// reach the NodeService, and the BrokerService they proxy client calls
	// to, on the cluster port (node.PeerListener).
	api.Register(gs)
	api.AccessServer().Register(gs)
	probes := api.RegisterProbes(gs) // grpc.health.v1 and reflection
	peerGS := grpc.NewServer(transport.GRPCOptions(limits)...)
	api.Register(peerGS)
	nodeAPI.Register(peerGS)
	serveErr := make(chan error, 2)
	go func() { serveErr <- gs.Serve(conns) }()
	go func() { _ = peerGS.Serve(node.PeerListener()) }()
	probes.Serving()
	logger.Info("warren-node ready", "node", f.broker.Cluster.NodeID, "grpc", ln.Addr().String(), "raft", node.RaftAddr(),
		"data", f.broker.Cluster.DataDir, "version", version.Get().Short())

	select {
	case <-ctx.Done():
		// Health checks and /readyz say not serving from the start of
		// the hand-off, so load balancers stop sending new clients here.
		probes.NotServing()
		if web != nil {
			web.Drain()
		}
		logger.Info("shutting down: handing off leaderships, then ending client streams")
		handOff, cancel := context.WithTimeout(context.Background(), handOffTimeout)
		node.HandOff(handOff)
		cancel()
	case <-node.Left():
		probes.NotServing()
		if web != nil {
			web.Drain()
		}
		logger.Info("left the cluster; stopping")
	case err := <-serveErr:
		return err
	}
	api.Drain()
	if amqpSrv != nil {
		amqpSrv.Close(clientDrainTimeout)
	}
	shutdownGRPC(gs, clientDrainTimeout)
	shutdownGRPC(peerGS, peerDrainTimeout)
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

// setMemoryLimit sets the Go runtime's soft memory limit to 90 % of the
// memory watermark (unless GOMEMLIMIT sets one, or the watermark is off):
// the collector then works harder as the heap nears the watermark, so the
// garbage of a burst — a restart applying the log after the last snapshot
// (up to --body-snapshot-bytes of bodies), a flood of large publishes —
// does not carry the process over the watermark with nothing live there.
func setMemoryLimit(watermark uint64, logger hclog.Logger) {
	if watermark == 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(min(watermark/10*9, math.MaxInt64))
	debug.SetMemoryLimit(limit)
	logger.Debug("Go soft memory limit set", "bytes", limit)
}
