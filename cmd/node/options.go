package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/internal/bytesize"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/transport"
)

// flags are warren-node's options once the command line, the environment
// and the config file are merged (config.go): the flag set defined here is
// the one list of option names, types, defaults and help texts for all
// three.
type flags struct {
	config    string // --config: the TOML file
	broker    broker.Config
	join      []string
	grpcAddr  string
	httpAddr  string // "" turns the HTTP endpoint off
	amqpAddr  string // "" turns the AMQP port off
	amqpsAddr string // "" (the default) leaves the AMQPS port off
	perQueue  bool   // per-queue series on /metrics
	httpUI    bool   // the web UI at / of the HTTP endpoint (the API stays)
	logLevel  string
	logFormat string
	version   bool // --version: print the build and exit
	maxMsg    bytesize.Size
	caps      transport.Limits // the connection, stream and consumer caps
	memHigh   bytesize.Size    // publishes are refused past these
	diskLow   bytesize.Size
	readyWait time.Duration
	pprofAddr string
	logStore  string
	bodyStore string
	bodySeg   bytesize.Size
	bodySnap  bytesize.Size
	raftTime  float64 // --raft-timing-multiplier
	security  securityFlags
	sources   sources // where the options came from, for the log
}

// defineFlags adds every option to fs, pointing at f, with its default.
func defineFlags(fs *pflag.FlagSet, f *flags) {
	f.broker = broker.DefaultConfig()
	limits := transport.DefaultLimits()
	fs.StringVar(&f.config, "config", "", "read options from this TOML `file` (keys are the flag names: data-dir = \"/var/lib/warren\"); flags and WARREN_* variables win over it")
	fs.BoolVar(&f.version, "version", false, "print the version of this binary (module version, commit, Go version) and exit")
	fs.StringVar(&f.broker.Cluster.NodeID, "id", f.broker.Cluster.NodeID, "node id, stable across restarts")
	fs.StringVar(&f.broker.Cluster.Zone, "zone", "", "availability zone of this node (gossiped to peers)")
	fs.StringVar(&f.broker.Cluster.DataDir, "data-dir", f.broker.Cluster.DataDir, "directory for Raft logs and snapshots, and the gossip keyring")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "127.0.0.1:5680", "address of the client gRPC API")
	fs.StringVar(&f.broker.Cluster.RaftAddr, "raft-addr", f.broker.Cluster.RaftAddr, "address of the cluster port: every Raft group and the node-to-node API")
	fs.StringVar(&f.broker.Cluster.GossipAddr, "gossip-addr", f.broker.Cluster.GossipAddr, "address of the memberlist gossip port (TCP and UDP)")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:5683", "address of the HTTP endpoint: /metrics (Prometheus), /livez, /readyz, the management API /api/ and UI /; TLS with --tls-cert, and /metrics and /readyz need a monitoring or administrator user; \"\" turns it off")
	fs.BoolVar(&f.httpUI, "http-ui", true, "serve the management web UI at / of the HTTP endpoint; the management API under /api/ stays with --http-ui=false")
	fs.StringVar(&f.amqpAddr, "amqp-addr", "127.0.0.1:5672", "address of the AMQP 0-9-1 port (RabbitMQ clients: amqp091-go, pika, the Java client); \"\" turns it off")
	fs.StringVar(&f.amqpsAddr, "amqps-addr", "", "address of the AMQP 0-9-1 port over TLS with the client API's certificate (--tls-cert; 5671 is usual); EXTERNAL login with a client certificate when --tls-client-ca is set; off when empty")
	fs.BoolVar(&f.perQueue, "per-queue-metrics", true, "export 9 series per queue on /metrics (labels vhost, queue) besides the node's totals; turn off on nodes with very many queues")
	fs.StringSliceVar(&f.join, "join", nil, "gossip addresses (host:port, comma-separated) of cluster nodes to join")
	fs.IntVar(&f.broker.Cluster.BootstrapExpect, "bootstrap-expect", f.broker.Cluster.BootstrapExpect, "number of nodes that form a new cluster (1: bootstrap alone unless --join is set)")
	fs.IntVar(&f.broker.QueueGroups, "queue-groups", f.broker.QueueGroups, "number of queue Raft groups")
	fs.DurationVar(&f.broker.SessionGrace, "session-grace", f.broker.SessionGrace, "how long a new leader waits for sessions to re-attach")
	fs.DurationVar(&f.broker.DefaultGetLease, "get-lease", f.broker.DefaultGetLease, "default lease of an unacked get")
	fs.DurationVar(&f.broker.ConsumerTimeout, "consumer-timeout", f.broker.ConsumerTimeout, "a delivery unacked this long ends its consumer's stream and returns its deliveries, unless the queue (x-consumer-timeout) or the consumer sets another (0: none)")
	fs.DurationVar(&f.broker.Cluster.DeadNodeRemoval, "remove-dead-after", f.broker.Cluster.DeadNodeRemoval, "remove a node that has been dead (crashed, not stopped) this long from every group, unless that would cost a group its quorum (0: never; use warren cluster remove-node)")
	fs.DurationVar(&f.readyWait, "ready-timeout", time.Minute, "how long to wait until every Raft group has a leader (in a new cluster: for the peers too) and this node has caught up; the node exits when it is not ready by then")
	f.caps = limits
	fs.IntVar(&f.caps.MaxConnections, "max-connections", limits.MaxConnections, "client connections open at once; more are closed as they arrive (0: no limit)")
	fs.IntVar(&f.caps.MaxStreamsPerConnection, "max-streams-per-connection", limits.MaxStreamsPerConnection, "streams (consume, session, calls in flight) of one client connection")
	fs.IntVar(&f.caps.MaxConsumersPerSession, "max-consumers-per-session", limits.MaxConsumersPerSession, "consume streams one session may have open on this node")
	f.maxMsg = bytesize.Size(limits.MaxMessageBytes)
	fs.Var(&f.maxMsg, "max-message-bytes", "largest message accepted: body, headers and properties together (at most 64MiB)")
	f.memHigh = bytesize.Size(watermark.DefaultMemoryHigh())
	fs.Var(&f.memHigh, "memory-high-watermark", "Go heap size at which publishes are refused until consumers drain queues; 0 = off")
	// The computed default says where it comes from, once: pflag prints
	// DefValue as "(default …)" and nothing else reads it.
	fs.Lookup("memory-high-watermark").DefValue = memoryDefaultText(uint64(f.memHigh))
	f.diskLow = watermark.DefaultDiskFreeLow
	fs.Var(&f.diskLow, "disk-free-low-watermark", "free space of the data directory's file system below which publishes are refused; 0 = off")
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text (one line per record, fields as key=value) or json (one JSON object per line)")
	fs.StringVar(&f.logStore, "log-store", "auto", "Raft log store of every group: segment (append-only segment files, one fdatasync per write), bolt (raft-boltdb), or auto: what each group's directory holds, "+string(raftgroup.DefaultLogStore)+" for a new one; a directory written by the other store is refused")
	fs.StringVar(&f.bodyStore, "body-store", string(f.broker.BodyStore), "where queue groups keep message bodies: memory (in the replicated state: a backlog is bounded by RAM) or disk (in each group's body segment files under <data-dir>/groups/<group>/bodies, the state keeping a small reference per message: a backlog is bounded by the disk)")
	f.bodySeg = bodystore.DefaultSegmentBytes
	fs.Var(&f.bodySnap, "body-snapshot-bytes", "with --body-store disk, a queue group takes a snapshot once this many bytes of bodies were applied since its last one: a restart re-applies (and Raft reads into memory) up to this much, and the space of consumed messages comes back at snapshots (default: 64MiB, at most an eighth of --memory-high-watermark)")
	fs.Var(&f.bodySeg, "body-segment-bytes", "size of one body segment file with --body-store disk; at the group's next snapshot a file is deleted once none of its messages is left, or once its remaining messages, under a quarter of it, were copied into the file being written")
	fs.Float64Var(&f.raftTime, "raft-timing-multiplier", 1, fmt.Sprintf("scale Raft's heartbeat, election and leader-lease timeouts (1: 1s, 1s, 500ms; Consul's raft_multiplier): lower notices a silent leader sooner and risks needless elections on a loaded or distant node (%g to %g)", raftgroup.MinTimingMultiplier, float64(raftgroup.MaxTimingMultiplier)))
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address (off when empty)")
	f.security.register(fs)
	fs.BoolVar(&f.broker.Cluster.UnsafeUnsyncedLog, "unsafe-ack-before-fsync", false, "DANGEROUS, for fault-injection tests only: confirm writes before they are fsynced, so a power loss or kill -9 of a majority LOSES CONFIRMED MESSAGES")
}

// memoryDefaultText is the memory watermark's default as --help shows it.
func memoryDefaultText(n uint64) string {
	if n == 0 {
		return "0, off: neither the machine's memory nor a cgroup limit is known"
	}
	return fmt.Sprintf("%s, %.0f%% of the machine's memory or of the cgroup limit if lower", (*bytesize.Size)(&n).String(), watermark.DefaultMemoryFraction*100)
}

// check validates what no flag type checks by itself and fills what is
// derived from the options.
func (f *flags) check() error {
	if hclog.LevelFromString(f.logLevel) == hclog.NoLevel {
		return fmt.Errorf("--log-level must be trace, debug, info, warn or error, not %q", f.logLevel)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
	}
	ls, err := raftgroup.ParseLogStore(f.logStore)
	if err != nil {
		return fmt.Errorf("--log-store: %w", err)
	}
	f.broker.Cluster.LogStore = ls
	switch broker.BodyStore(f.bodyStore) {
	case broker.BodiesInMemory, broker.BodiesOnDisk:
		f.broker.BodyStore = broker.BodyStore(f.bodyStore)
	default:
		return fmt.Errorf("--body-store must be memory or disk, not %q", f.bodyStore)
	}
	if f.bodySeg < 64<<10 || f.bodySeg > 1<<30 {
		return fmt.Errorf("--body-segment-bytes must be 64KiB to 1GiB, not %s", f.bodySeg.String())
	}
	f.broker.BodySegmentBytes = int64(f.bodySeg)
	if f.bodySnap == 0 {
		f.bodySnap = bytesize.Size(defaultBodySnapshotBytes(uint64(f.memHigh)))
	}
	if f.bodySnap < 64<<10 || f.bodySnap > 1<<30 {
		return fmt.Errorf("--body-snapshot-bytes must be 64KiB to 1GiB, not %s", f.bodySnap.String())
	}
	f.broker.BodySnapshotBytes = int64(f.bodySnap)
	if !(f.raftTime >= raftgroup.MinTimingMultiplier && f.raftTime <= raftgroup.MaxTimingMultiplier) {
		return fmt.Errorf("--raft-timing-multiplier must be %g to %g, not %g", raftgroup.MinTimingMultiplier, float64(raftgroup.MaxTimingMultiplier), f.raftTime)
	}
	f.broker.Cluster.Group = f.broker.Cluster.Group.Scaled(f.raftTime)
	f.broker.Cluster.Join = nil
	for _, a := range f.join {
		if a = strings.TrimSpace(a); a != "" {
			f.broker.Cluster.Join = append(f.broker.Cluster.Join, a)
		}
	}
	if f.caps.MaxConnections < 0 || f.caps.MaxStreamsPerConnection < 1 || f.caps.MaxConsumersPerSession < 1 {
		return fmt.Errorf("--max-connections must be ≥ 0, --max-streams-per-connection and --max-consumers-per-session ≥ 1")
	}
	if f.maxMsg < 1 || f.maxMsg > 64<<20 {
		return fmt.Errorf("--max-message-bytes must be 1 byte to 64MiB, not %s", f.maxMsg.String())
	}
	return nil
}

// defaultBodySnapshotBytes is --body-snapshot-bytes unless set: 64 MiB, at
// most an eighth of the memory watermark (at least 64 KiB). A restart
// applies the log after the last snapshot, with up to this much of bodies,
// and holds about twice that at its peak (garbage included): a node with a
// small watermark would otherwise pass it at every restart.
func defaultBodySnapshotBytes(memHigh uint64) uint64 {
	v := uint64(broker.DefaultBodySnapshotBytes)
	if memHigh > 0 {
		v = min(v, memHigh/8)
	}
	return max(v, 64<<10)
}
