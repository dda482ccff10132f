package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"

	"github.com/warrenmq/warren/internal/version"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// FSMVersion is the state-machine version this build applies, gossiped as
// NodeMeta.fsm_version. New command types, and new meanings of a command
// carried by a new field, may be proposed only once every voter advertises
// a version that knows them (STYLE §2). Versions:
//
//	1  the command types of the first release
//	2  Enqueue.size_rule SIZE_RULE_WITH_HEADERS: a message's headers and
//	   string properties count toward max-length-bytes (fsm.MessageSize)
//	3  queue features: DeclareQueue.args_level 1 (x-expires,
//	   x-single-active-consumer, x-max-priority, x-consumer-timeout, the
//	   default delivery limit), the QueueUsed command, Checkout.priority
//	   and Checkout.timeout_ms;
//	   Bind/Unbind.destination_kind EXCHANGE (exchange-to-exchange
//	   bindings); the alternate-exchange argument; list and table values;
//	   overflow reject-publish-dlx; at-least-once dead-lettering
//	   (DeclareQueue.dead_letter_strategy, SettleDeadLetters); exchanges
//	   of kind x-delayed-message (DelayMessages)
//	4  Payload.redelivered: a dead letter or delayed message the outbox
//	   publishes again, which may be in its queues already, is delivered
//	   with redelivered set; DelayedMessage.producer_id and sequence: a
//	   delayed publish sent again is stored once
const FSMVersion = 4

// Member states, as Member.State reports them.
const (
	// MemberAlive: the node answers gossip probes.
	MemberAlive = "alive"
	// MemberLeaving: the node is alive but announced that it is stopping
	// or leaving: no leadership is moved to it and it is not added to
	// groups.
	MemberLeaving = "leaving"
	// MemberSuspect: probes failed recently; the node is declared dead
	// unless it refutes the suspicion. memberlist (v0.5) does not expose
	// suspicion to its delegates, so Members reports such a node as
	// alive until it is declared dead.
	MemberSuspect = "suspect"
	// MemberDead: the node stopped answering; it stays in every Raft
	// group (a crash must not shrink the cluster).
	MemberDead = "dead"
	// MemberLeft: the node left gracefully (it was stopped); it stays a
	// Raft voter so that a rolling restart never shrinks the cluster.
	MemberLeft = "left"
)

// Member is a node of the cluster as gossip reports it. Nodes stay listed
// after they fail or leave, with that state.
type Member struct {
	// ID is the node id, its raft.ServerID in every group.
	ID string
	// Zone is the node's availability zone ("" when not configured).
	Zone string
	// RaftAddr is the address of the node's Raft port.
	RaftAddr string
	// GRPCAddr is the address of the node's gRPC services ("" when the
	// node serves none).
	GRPCAddr string
	// GossipAddr is the node's memberlist address.
	GossipAddr string
	// FSMVersion is the state-machine version the node applies.
	FSMVersion uint32
	// Version is the build the node runs (internal/version Short), ""
	// from a node that does not gossip one.
	Version string
	// State is MemberAlive, MemberLeaving, MemberSuspect, MemberDead or
	// MemberLeft.
	State string
	// Since is when this node saw the member enter State (zero when the
	// state came from before this node started).
	Since time.Time
	// boot tells the member's processes apart (NodeMeta.boot; 0 from a
	// node that gossips none).
	boot uint64
}

// Running reports whether the member's process is up: alive, or alive
// and leaving (it still votes and serves until it is removed or stops).
func (m Member) Running() bool { return m.State == MemberAlive || m.State == MemberLeaving }

// Gossip settings.
const (
	// leaveTimeout bounds how long Close waits for the leave message to
	// reach peers.
	leaveTimeout = time.Second
	// deadNodeReclaim is how long after a node was declared dead its id
	// may come back from another address (a replaced VM).
	deadNodeReclaim = 30 * time.Second
	// gossipStateVersion is byte 0 of the push/pull state (LocalState)
	// and of user messages.
	gossipStateVersion byte = 1
	// gossipMsgLeaving is the type byte (after the version byte) of the
	// user message a node broadcasts as it leaves, followed by its id:
	// memberlist tells delegates that a node is gone but not whether it
	// left or died. Sent by earlier builds, and still understood.
	gossipMsgLeaving byte = 1
	// gossipMsgLeavingBoot is the leave notice this build sends: the
	// type byte, the boot of the leaving process (8 bytes, big-endian),
	// then its id. Peers relay a notice for a while after the node is
	// gone; a node that restarts within that while must not be taken
	// for leaving by a notice of its previous process.
	gossipMsgLeavingBoot byte = 2
)

// membership is the node's memberlist: its delegates keep a map of the
// members seen, and every change wakes the subscribed loops.
type membership struct {
	ml     *memberlist.Memberlist
	logger hclog.Logger
	self   string
	// boot is this process's NodeMeta.boot.
	boot uint64
	meta []byte
	// state is this node's push/pull state (membership_state.go).
	state func() gossipState
	// peerFormed is set once a peer reported, in a push/pull, that it has
	// Raft state in every group.
	peerFormed atomic.Bool

	// broadcasts holds this node's user messages (its leave notice).
	broadcasts *memberlist.TransmitLimitedQueue

	mu      sync.Mutex
	members map[string]Member
	// leaving holds the ids that announced they are leaving, each with
	// the boot of the process that did (0: unknown, an earlier build).
	leaving map[string]uint64
	// peerVoters holds the meta-group voter sets that formed peers
	// reported, keyed by their encoding.
	peerVoters map[string][]string
	subs       []chan struct{}
}

// encodeNodeMeta is the deterministic encoding of this node's gossip meta.
func encodeNodeMeta(id, zone, raftAddr, grpcAddr string, boot uint64) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.NodeMeta{
		Id: id, Zone: zone, RaftAddr: raftAddr, GrpcAddr: grpcAddr, FsmVersion: FSMVersion,
		Version: version.Get().Short(), Boot: boot,
	})
	if err != nil {
		return nil, fmt.Errorf("encode node meta: %w", err)
	}
	return b, nil
}

// startMembership creates the memberlist on cfg.GossipAddr, gossiping
// raftAddr as this node's Raft address, encrypted with keyring (nil: not
// encrypted).
func startMembership(cfg Config, keyring *memberlist.Keyring, raftAddr string, logger hclog.Logger, state func() gossipState) (*membership, error) {
	boot := rand.Uint64() | 1 // never 0, which means "none"
	meta, err := encodeNodeMeta(cfg.NodeID, cfg.Zone, raftAddr, cfg.GRPCAddr, boot)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip meta is %d bytes, limit %d", len(meta), memberlist.MetaMaxSize)
	}
	m := &membership{
		logger: logger.Named("membership"), self: cfg.NodeID, boot: boot, meta: meta, state: state,
		members: map[string]Member{}, leaving: map[string]uint64{}, peerVoters: map[string][]string{},
	}
	conf, err := memberlistConfig(cfg, keyring, logger)
	if err != nil {
		return nil, err
	}
	m.broadcasts = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return m.ml.NumMembers() },
		RetransmitMult: conf.RetransmitMult,
	}
	conf.Delegate, conf.Events = m, m
	ml, err := memberlist.Create(conf)
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", cfg.GossipAddr, err)
	}
	m.ml = ml
	return m, nil
}

// memberlistConfig maps Config onto memberlist's LAN (or local) profile,
// encrypting gossip with keyring when it is not nil.
func memberlistConfig(cfg Config, keyring *memberlist.Keyring, logger hclog.Logger) (*memberlist.Config, error) {
	conf := memberlist.DefaultLANConfig()
	if cfg.GossipLocal {
		conf = memberlist.DefaultLocalConfig()
		// Faster than the local profile, but with room for the stalls
		// of a loaded test machine (-race).
		conf.ProbeInterval = 300 * time.Millisecond
		conf.ProbeTimeout = 150 * time.Millisecond
		conf.GossipInterval = 50 * time.Millisecond
		conf.PushPullInterval = 5 * time.Second
	}
	host, ps, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address: %w", err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("gossip address: bad port %q", ps)
	}
	if host == "" {
		host = "0.0.0.0"
	} else if net.ParseIP(host) == nil {
		// memberlist binds to IP literals only.
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("gossip address: resolve %q: %v", host, err)
		}
		host = ips[0].String()
	}
	conf.Name = cfg.NodeID
	conf.BindAddr, conf.BindPort, conf.AdvertisePort = host, port, port
	conf.DeadNodeReclaimTime = deadNodeReclaim
	if keyring != nil {
		// The keyring, not SecretKey: it is changed while gossip runs
		// (gossip_keyring.go), and the persisted keyring, not the
		// configured key, is what it starts from.
		conf.Keyring = keyring
		conf.GossipVerifyIncoming, conf.GossipVerifyOutgoing = true, true
	}
	conf.Logger = logger.ResetNamed("warren.memberlist").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	return conf, nil
}

// subscribe returns a channel that receives (coalesced) a value after
// every membership change.
func (m *membership) subscribe() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{}, 1)
	m.subs = append(m.subs, ch)
	return ch
}

func (m *membership) notifyLocked() {
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// NodeMeta implements memberlist.Delegate.
func (m *membership) NodeMeta(limit int) []byte {
	if len(m.meta) > limit {
		// startMembership checked MetaMaxSize; memberlist panics on more.
		return nil
	}
	return m.meta
}

// parseLeaveNotice returns the id and boot (0: not given) of a leave
// notice, and false when buf is none.
func parseLeaveNotice(buf []byte) (id string, boot uint64, ok bool) {
	switch {
	case len(buf) < 3 || buf[0] != gossipStateVersion:
		return "", 0, false
	case buf[1] == gossipMsgLeaving:
		return string(buf[2:]), 0, true
	case buf[1] == gossipMsgLeavingBoot && len(buf) > 10:
		return string(buf[10:]), binary.BigEndian.Uint64(buf[2:10]), true
	}
	return "", 0, false
}

// leaveNoticeMsg is this process's leave notice.
func (m *membership) leaveNoticeMsg() []byte {
	msg := []byte{gossipStateVersion, gossipMsgLeavingBoot}
	msg = binary.BigEndian.AppendUint64(msg, m.boot)
	return append(msg, m.self...)
}

// NotifyMsg implements memberlist.Delegate: a peer's leave notice. The
// first time a node hears it, it gossips it on, as memberlist does with
// its own messages, so the notice reaches every node. A notice about this
// node, or from a process of a member that is not the one gossip now
// knows (it restarted since), is dropped: it is not news of the member.
func (m *membership) NotifyMsg(buf []byte) {
	id, boot, ok := parseLeaveNotice(buf)
	if !ok || id == m.self {
		return
	}
	m.mu.Lock()
	mem, known := m.members[id]
	if known && boot != 0 && mem.boot != 0 && mem.boot != boot {
		m.mu.Unlock()
		return
	}
	_, was := m.leaving[id]
	first := !was
	m.leaving[id] = boot
	if known && mem.State == MemberDead {
		// The leave itself arrived first.
		mem.State, mem.Since = MemberLeft, time.Now()
		m.members[id] = mem
		m.logger.Info("member left", "node", id, "zone", mem.Zone)
		m.notifyLocked()
	} else if first && known {
		m.logger.Info("member is leaving", "node", id, "zone", mem.Zone)
		m.notifyLocked()
	}
	m.mu.Unlock()
	if first {
		m.broadcasts.QueueBroadcast(&leaveNotice{id: id, msg: slices.Clone(buf)})
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (m *membership) GetBroadcasts(overhead, limit int) [][]byte {
	return m.broadcasts.GetBroadcasts(overhead, limit)
}

// NotifyJoin implements memberlist.EventDelegate.
func (m *membership) NotifyJoin(node *memberlist.Node) { m.update(node, true) }

// NotifyUpdate implements memberlist.EventDelegate.
func (m *membership) NotifyUpdate(node *memberlist.Node) { m.update(node, false) }

// NotifyLeave implements memberlist.EventDelegate: the node left or died.
// (node.State is not maintained by memberlist; the leave notice tells.)
func (m *membership) NotifyLeave(node *memberlist.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[node.Name]
	if !ok {
		return
	}
	state := MemberDead
	if _, left := m.leaving[node.Name]; left {
		state = MemberLeft
	}
	mem.State, mem.Since = state, time.Now()
	m.members[node.Name] = mem
	m.logger.Info("member "+state, "node", node.Name, "zone", mem.Zone)
	m.notifyLocked()
}

func (m *membership) update(node *memberlist.Node, join bool) {
	var meta pb.NodeMeta
	if err := proto.Unmarshal(node.Meta, &meta); err != nil || meta.GetId() != node.Name {
		m.logger.Warn("ignoring gossip member without valid Warren meta", "node", node.Name, "error", err)
		return
	}
	mem := Member{
		ID: meta.GetId(), Zone: meta.GetZone(), RaftAddr: meta.GetRaftAddr(), GRPCAddr: meta.GetGrpcAddr(),
		GossipAddr: net.JoinHostPort(node.Addr.String(), strconv.Itoa(int(node.Port))),
		FSMVersion: meta.GetFsmVersion(), Version: meta.GetVersion(), State: MemberAlive, Since: time.Now(),
		boot: meta.GetBoot(),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.members[mem.ID]; ok && old.State == MemberAlive {
		mem.Since = old.Since
	}
	m.members[mem.ID] = mem
	// A notice of this process stays (gossip may tell of its meta after
	// the notice); one of another process, or of unknown boot, goes.
	if b, ok := m.leaving[mem.ID]; ok && (b == 0 || b != mem.boot) {
		delete(m.leaving, mem.ID)
	}
	if join && mem.ID != m.self {
		m.logger.Info("member joined", "node", mem.ID, "zone", mem.Zone, "raft_addr", mem.RaftAddr, "grpc_addr", mem.GRPCAddr, "version", mem.Version)
	}
	m.notifyLocked()
}

// list returns the members sorted by id.
func (m *membership) list() []Member {
	m.mu.Lock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, m.shownLocked(mem))
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// get returns the member with id.
func (m *membership) get(id string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[id]
	if !ok {
		return Member{}, false
	}
	return m.shownLocked(mem), true
}

// shownLocked is mem as Members shows it: an alive member that announced
// it is leaving is MemberLeaving. m.mu is held.
func (m *membership) shownLocked(mem Member) Member {
	if _, leaving := m.leaving[mem.ID]; leaving && mem.State == MemberAlive {
		mem.State = MemberLeaving
	}
	return mem
}

// localAddr is the bound (advertised) gossip address.
func (m *membership) localAddr() string {
	n := m.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// pushPull exchanges state with the given gossip addresses now (as a join
// does), so MergeRemoteState sees their current state. It returns
// how many answered.
func (m *membership) pushPull(addrs []string) int {
	if len(addrs) == 0 {
		return 0
	}
	k, _ := m.ml.Join(addrs)
	return k
}

// announceLeaving tells peers that this node is stopping or leaving, so
// they move no leadership to it and do not add it back to a group it is
// removed from. It returns once memberlist has sent the notice as often
// as its own broadcasts, or after leaveTimeout. Repeated calls announce
// once.
func (m *membership) announceLeaving() {
	m.mu.Lock()
	_, already := m.leaving[m.self]
	m.leaving[m.self] = m.boot
	m.notifyLocked()
	m.mu.Unlock()
	if already || m.ml.NumMembers() <= 1 {
		return
	}
	notice := &leaveNotice{
		id:   m.self,
		msg:  m.leaveNoticeMsg(),
		done: make(chan struct{}),
	}
	m.broadcasts.QueueBroadcast(notice)
	t := time.NewTimer(leaveTimeout)
	defer t.Stop()
	select {
	case <-notice.done:
	case <-t.C:
	}
}

// leave announces that this node leaves (so peers record "left", not
// "dead") and stops gossip, each step bounded by leaveTimeout.
func (m *membership) leave() error {
	var errs []error
	m.announceLeaving()
	if err := m.ml.Leave(leaveTimeout); err != nil {
		errs = append(errs, fmt.Errorf("gossip leave: %w", err))
	}
	if err := m.ml.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
	}
	return errors.Join(errs...)
}

// Members lists the nodes gossip knows, this one included, sorted by id.
// Safe for concurrent use; the slice is the caller's.
func (n *Node) Members() []Member {
	m := n.gossip()
	if m == nil {
		return nil
	}
	return m.list()
}

// MemberGRPCAddr returns the gRPC address that node id gossips, and false
// when the node is unknown or serves no gRPC. The node may be dead; the
// caller's dial will tell. Safe for concurrent use.
func (n *Node) MemberGRPCAddr(id string) (string, bool) {
	m := n.gossip()
	if m == nil {
		return "", false
	}
	mem, ok := m.get(id)
	if !ok || mem.GRPCAddr == "" {
		return "", false
	}
	return mem.GRPCAddr, true
}

// GossipAddr returns the address memberlist is bound to (with the port the
// OS picked when Config.GossipAddr had port 0): the address other nodes
// pass in Config.Join.
func (n *Node) GossipAddr() string { return n.gossip().localAddr() }

// gossip returns the node's membership, nil until Start has created it
// (Raft callbacks may run before).
func (n *Node) gossip() *membership { return n.membership.Load() }

// leaveNotice is a memberlist.Broadcast of node id's leave notice. On the
// leaving node, done closes once the queue has sent it as often as it
// sends anything.
type leaveNotice struct {
	id   string
	msg  []byte
	done chan struct{} // nil for a relayed notice
	once sync.Once
}

// Invalidates implements memberlist.Broadcast: a newer notice of the same
// node replaces an older one.
func (b *leaveNotice) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*leaveNotice)
	return ok && o.id == b.id
}

// Message implements memberlist.Broadcast.
func (b *leaveNotice) Message() []byte { return b.msg }

// Finished implements memberlist.Broadcast.
func (b *leaveNotice) Finished() {
	if b.done != nil {
		b.once.Do(func() { close(b.done) })
	}
}
