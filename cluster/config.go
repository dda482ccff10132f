package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/warrenmq/warren/cluster/raftgroup"
)

// Config is the configuration of a node's place in the cluster: its
// identity, addresses, Raft timings and how it forms and grows a cluster.
type Config struct {
	// NodeID names the node in every Raft group; stable across restarts.
	NodeID string
	// DataDir holds groups/<group>/ for every Raft group, and the gossip
	// keyring (GossipKeyringFile).
	DataDir string
	// RaftAddr is the TCP address of the Raft port shared by all groups.
	// Peers dial the bound address, so it must not be a wildcard address
	// in a cluster.
	RaftAddr string
	// Zone is the availability zone the node runs in, gossiped to peers.
	// Optional.
	Zone string
	// GossipAddr is the memberlist bind address (TCP and UDP), host:port;
	// port 0 lets the OS pick one (Node.GossipAddr reports it).
	GossipAddr string
	// GRPCAddr is the address other nodes and clients dial for this node's
	// gRPC services, gossiped to peers. Empty when the node serves no gRPC
	// (some tests).
	GRPCAddr string
	// Join lists gossip addresses (host:port) of nodes of the cluster to
	// join at start. The node retries until one answers. A node with Join
	// set never bootstraps alone: with BootstrapExpect 1 it waits until the
	// running cluster's leaders add it.
	Join []string
	// BootstrapExpect is how many nodes form a new cluster. 1 (with no
	// Join) bootstraps a single-node cluster. N > 1 makes the node wait
	// until gossip shows exactly N alive nodes and then bootstrap every
	// group with those N as voters, unless it or a peer already has Raft
	// state. Ignored once the node has Raft state. 1..MaxVoters.
	BootstrapExpect int
	// GossipLocal selects memberlist's DefaultLocalConfig with fast probes
	// instead of DefaultLANConfig: for nodes on one host (tests).
	GossipLocal bool
	// GossipKey, when set, encrypts and authenticates gossip (memberlist's
	// AES-GCM keyring; 16, 24 or 32 bytes): a node without a key of the
	// cluster can neither read its gossip nor join it. It only seeds the
	// node's keyring: the keyring is persisted in DataDir
	// (GossipKeyringFile) and from then on takes precedence over
	// GossipKey, so keys rotated while the node ran (Node.GossipKeys)
	// survive a restart with the old key. A persisted keyring encrypts
	// gossip even when GossipKey is empty.
	GossipKey []byte
	// TLS, when set, is the mutual TLS of the cluster port (every Raft
	// group and the node-to-node API): it accepts and dials with it, so
	// only nodes with a certificate it trusts take part (see package
	// internal/certs, MutualConfig).
	TLS *tls.Config
	// ReconcileInterval is how often each group leader adds alive members
	// missing from its group and moves queue-group leaderships to nodes
	// that lead fewer. Membership changes trigger a round at once.
	ReconcileInterval time.Duration
	// Group holds per-group Raft timings.
	Group raftgroup.Config
	// LogStore is the Raft log store of every group (raftgroup.LogStore):
	// auto (the zero value) keeps what each group's directory holds and
	// uses raftgroup.DefaultLogStore for new ones.
	LogStore raftgroup.LogStore
	// UnsafeUnsyncedLog makes every group acknowledge Raft log entries
	// before they are fsynced (written back every 100–300 ms instead), so
	// a crash or power loss of a majority loses messages that were
	// confirmed to publishers. DANGEROUS: for fault-injection tests only
	// (warren chaos run --unsafe-ack-before-fsync), to show that the
	// checker sees the loss fsync-before-confirm prevents.
	UnsafeUnsyncedLog bool
	// DeadNodeRemoval is how long a node must have been dead (crashed,
	// not stopped) before the group leaders remove it from their groups;
	// a removal that would cost a group its quorum of alive voters is
	// never made. 0 (the default) never removes a node automatically:
	// operators use RemoveNode.
	DeadNodeRemoval time.Duration
	// Logger receives the node's logs; nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns a single-node configuration with data in
// ./warren-data, Raft on 127.0.0.1:5681 and gossip on 127.0.0.1:5682.
func DefaultConfig() Config {
	return Config{
		NodeID:            "node1",
		DataDir:           "warren-data",
		RaftAddr:          "127.0.0.1:5681",
		GossipAddr:        "127.0.0.1:5682",
		BootstrapExpect:   1,
		ReconcileInterval: 3 * time.Second,
		Group:             raftgroup.DefaultConfig(),
	}
}

// MaxVoters is the most voters a group gets; later nodes join as
// non-voters. More voters make every commit wait for more acks without
// surviving more than the zones do.
const MaxVoters = 5

// Validate checks ranges and relations of the fields, including that the
// gossiped node meta fits memberlist's limit.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.RaftAddr == "" {
		errs = append(errs, errors.New("raft address is empty"))
	}
	if c.DeadNodeRemoval < 0 {
		errs = append(errs, errors.New("dead node removal time is negative"))
	}
	if err := c.Group.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateMembership()...)
	return errors.Join(errs...)
}

// validateMembership checks the gossip and formation fields.
func (c Config) validateMembership() []error {
	var errs []error
	if _, err := splitHostPort(c.GossipAddr); err != nil {
		errs = append(errs, fmt.Errorf("gossip address: %w", err))
	}
	for _, j := range c.Join {
		if j == "" {
			errs = append(errs, errors.New("join address is empty"))
		}
	}
	if c.BootstrapExpect < 1 || c.BootstrapExpect > MaxVoters {
		errs = append(errs, fmt.Errorf("bootstrap expect must be 1..%d, not %d", MaxVoters, c.BootstrapExpect))
	}
	switch len(c.GossipKey) {
	case 0, 16, 24, 32:
	default:
		errs = append(errs, fmt.Errorf("gossip key is %d bytes; it must be 16, 24 or 32 (AES-128, -192 or -256)", len(c.GossipKey)))
	}
	if c.ReconcileInterval < 10*time.Millisecond || c.ReconcileInterval > time.Hour {
		errs = append(errs, fmt.Errorf("reconcile interval %v out of range [10ms, 1h]", c.ReconcileInterval))
	}
	if c.BootstrapExpect > 1 || len(c.Join) > 0 {
		// Peers dial the gossiped addresses.
		for _, a := range [][2]string{{"raft", c.RaftAddr}, {"grpc", c.GRPCAddr}} {
			name, a := a[0], a[1]
			if host, _, err := net.SplitHostPort(a); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
				errs = append(errs, fmt.Errorf("%s address %q: a cluster node needs an address peers can dial, not a wildcard", name, a))
			}
		}
	}
	if meta, err := encodeNodeMeta(c.NodeID, c.Zone, c.RaftAddr, c.GRPCAddr, ^uint64(0)); err != nil {
		errs = append(errs, err)
	} else if len(meta) > memberlist.MetaMaxSize {
		errs = append(errs, fmt.Errorf("node id, zone and addresses take %d bytes of gossip meta, limit %d", len(meta), memberlist.MetaMaxSize))
	}
	return errs
}

// splitHostPort parses host:port with a numeric port (0 allowed).
func splitHostPort(addr string) (port int, err error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("bad port in %q", addr)
	}
	return port, nil
}
