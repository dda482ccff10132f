package transport

import (
	"math"

	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// Every request type of BrokerService has one validation function here. It
// is pure — it reads only the request and the limits, never the node — and
// its handler calls it before doing anything else, so bad input is refused
// before it waits, proposes or enqueues. It returns nil or a status error:
// INVALID_ARGUMENT for malformed input, RESOURCE_EXHAUSTED past a size
// limit (README "Limits"). What depends on the node's state (does the queue
// exist, is the tag outstanding) is decided later by the state machines.
// validate_fuzz_test.go holds these functions to the documented limits.

// validateDeclareExchange: a passive declare only names the exchange to
// look up; an active one needs a known kind and a name ("" is the default
// exchange, which exists already).
func (l Limits) validateDeclareExchange(r *pb.DeclareExchangeRequest) error {
	if err := l.checkName("exchange", r.GetName(), true); err != nil {
		return err
	}
	if err := l.checkArguments(r.GetArguments()); err != nil {
		return err
	}
	if r.GetPassive() {
		return nil
	}
	if err := broker.CheckExchangeKind(r.GetKind()); err != nil {
		return invalidf("exchange %q: %v", r.GetName(), err)
	}
	if r.GetName() == "" {
		return invalidf("the default exchange cannot be declared; give the exchange a name")
	}
	if err := broker.CheckExchangeArgs(brokerValues(r.GetArguments())); err != nil {
		return toStatus(err)
	}
	return nil
}

func (l Limits) validateDeleteExchange(r *pb.DeleteExchangeRequest) error {
	if err := l.checkName("exchange", r.GetName(), true); err != nil {
		return err
	}
	if r.GetName() == "" {
		return invalidf("the default exchange cannot be deleted")
	}
	return nil
}

// validateListExchanges accepts every request: min_meta_index may be any
// index (a future one waits, bounded by the caller's deadline).
func (l Limits) validateListExchanges(r *pb.ListExchangesRequest) error {
	return checkPage(r.GetPageSize(), r.GetPageToken())
}

// validateDeclareQueue: an empty name asks the server for one; an
// exclusive queue needs the declaring session; the arguments of an active
// declare must make a queue spec (types and ranges of x-max-length, …).
func (l Limits) validateDeclareQueue(r *pb.DeclareQueueRequest) error {
	if err := l.checkName("queue", r.GetName(), true); err != nil {
		return err
	}
	if err := l.checkArguments(r.GetArguments()); err != nil {
		return err
	}
	if err := checkSession(r.GetSessionId(), r.GetExclusive()); err != nil {
		return err
	}
	if r.GetPassive() {
		return nil
	}
	// The spec does not depend on the name, so a generated one need not
	// exist yet.
	if err := broker.CheckQueueArgs(r.GetName(), brokerValues(r.GetArguments())); err != nil {
		return toStatus(err)
	}
	return nil
}

func (l Limits) validateDeleteQueue(r *pb.DeleteQueueRequest) error {
	if err := l.checkName("queue", r.GetName(), false); err != nil {
		return err
	}
	return checkSession(r.GetSessionId(), false)
}

func (l Limits) validatePurgeQueue(r *pb.PurgeQueueRequest) error {
	if err := l.checkName("queue", r.GetName(), false); err != nil {
		return err
	}
	return checkSession(r.GetSessionId(), false)
}

// validateListQueues accepts every request (see validateListExchanges).
func (l Limits) validateListQueues(r *pb.ListQueuesRequest) error {
	return checkPage(r.GetPageSize(), r.GetPageToken())
}

func (l Limits) validateBindQueue(r *pb.BindQueueRequest) error {
	return l.checkBinding(r.GetExchange(), r.GetQueue(), r.GetDestinationKind(), r.GetBindingKey(), r.GetArguments())
}

func (l Limits) validateUnbindQueue(r *pb.UnbindQueueRequest) error {
	return l.checkBinding(r.GetExchange(), r.GetQueue(), r.GetDestinationKind(), r.GetBindingKey(), r.GetArguments())
}

// checkBinding validates the fields Bind and Unbind share.
func (l Limits) checkBinding(exchange, dest string, kind pb.DestinationKind, key string, args map[string]*pb.Value) error {
	if err := l.checkName("exchange", exchange, true); err != nil {
		return err
	}
	what := "queue"
	switch kind {
	case pb.DestinationKind_DESTINATION_KIND_UNSPECIFIED, pb.DestinationKind_DESTINATION_KIND_QUEUE:
	case pb.DestinationKind_DESTINATION_KIND_EXCHANGE:
		what = "destination exchange"
	default:
		return invalidf("destination_kind %d is not QUEUE or EXCHANGE", kind)
	}
	if err := l.checkName(what, dest, false); err != nil {
		return err
	}
	if err := l.checkRoutingKey("binding key", key); err != nil {
		return err
	}
	return l.checkArguments(args)
}

// validateListBindings: both filters are optional names.
func (l Limits) validateListBindings(r *pb.ListBindingsRequest) error {
	if err := l.checkName("exchange", r.GetExchange(), true); err != nil {
		return err
	}
	if err := l.checkName("queue", r.GetQueue(), true); err != nil {
		return err
	}
	if _, ok := pb.DestinationKind_name[int32(r.GetDestinationKind())]; !ok {
		return invalidf("destination_kind %d is not QUEUE or EXCHANGE", r.GetDestinationKind())
	}
	return checkPage(r.GetPageSize(), r.GetPageToken())
}

// validatePublish checks the whole batch: one bad entry refuses the call,
// so nothing of it is enqueued.
func (l Limits) validatePublish(r *pb.PublishRequest) error {
	entries := r.GetEntries()
	if len(entries) == 0 {
		return invalidf("publish has no entries")
	}
	if len(entries) > l.MaxPublishBatch {
		return tooBigf("publish has %d entries; the limit is %d", len(entries), l.MaxPublishBatch)
	}
	if len(r.GetPublisherId()) > maxSessionIDBytes {
		return invalidf("publisher_id is longer than %d bytes", maxSessionIDBytes)
	}
	for i, e := range entries {
		if err := l.checkMessage(i, e); err != nil {
			return err
		}
	}
	return nil
}

// validateSubscribe validates the first message of a Consume stream, which
// must be a Subscribe.
func (l Limits) validateSubscribe(r *pb.ConsumeRequest) error {
	sub := r.GetSubscribe()
	if sub == nil {
		return invalidf("the first message of a Consume stream must be a Subscribe")
	}
	if err := l.checkName("queue", sub.GetQueue(), false); err != nil {
		return err
	}
	if err := l.checkName("consumer tag", sub.GetConsumerTag(), true); err != nil {
		return err
	}
	if err := checkSession(sub.GetSessionId(), false); err != nil {
		return err
	}
	if p := sub.GetPrefetch(); p < 0 || int(p) > l.MaxPrefetch {
		return invalidf("prefetch must be between 0 (unlimited) and %d, not %d", l.MaxPrefetch, p)
	}
	switch sub.GetAckMode() {
	case pb.AckMode_ACK_MODE_UNSPECIFIED, pb.AckMode_ACK_MODE_MANUAL, pb.AckMode_ACK_MODE_AUTO:
	default:
		return invalidf("unknown ack mode %d", sub.GetAckMode())
	}
	if _, err := consumerPriority(sub); err != nil {
		return err
	}
	if ms := sub.GetConsumerTimeoutMs(); ms < 0 {
		return invalidf("consumer timeout must be ≥ 0 ms (0: the queue's or the node's), not %d", ms)
	}
	if hb := sub.GetHeartbeatMs(); hb != 0 && (hb < minHeartbeatMs || hb > maxHeartbeatMs) {
		return invalidf("heartbeat must be 0 (none) or %d to %d ms, not %d", minHeartbeatMs, maxHeartbeatMs, hb)
	}
	return nil
}

// consumerPriority reads the consumer arguments of sub: "x-priority", an
// integer of 32 bits, is the one Warren implements; any other is refused,
// naming it.
func consumerPriority(sub *pb.Subscribe) (int32, error) {
	var prio int32
	for name, v := range sub.GetArguments() {
		if name != "x-priority" {
			return 0, invalidf("consumer argument %q is not supported by Warren (supported: x-priority)", name)
		}
		iv, ok := v.GetKind().(*pb.Value_IntValue)
		if !ok || iv.IntValue < math.MinInt32 || iv.IntValue > math.MaxInt32 {
			return 0, invalidf("consumer argument \"x-priority\" must be an integer of 32 bits")
		}
		prio = int32(iv.IntValue)
	}
	return prio, nil
}

// The range of a consume stream's heartbeat interval: more often than
// every 100 ms costs the node a message per stream for little, and less
// often than a minute is what keepalives already give.
const (
	minHeartbeatMs = 100
	maxHeartbeatMs = 60000
)

// validateConsumeSettle validates a later message of a Consume stream,
// which must be a Settle, or Settles: 1 to MaxSettlesPerMessage of them.
func (l Limits) validateConsumeSettle(r *pb.ConsumeRequest) error {
	if ss := r.GetSettles(); ss != nil {
		n := len(ss.GetSettles())
		if n == 0 {
			return invalidf("a Settles message carries no settle")
		}
		if n > MaxSettlesPerMessage {
			return tooBigf("a Settles message carries %d settles; the limit is %d", n, MaxSettlesPerMessage)
		}
		for i, st := range ss.GetSettles() {
			if _, err := settleKind(st); err != nil {
				return invalidf("settle %d of %d: %s", i+1, n, status.Convert(err).Message())
			}
		}
		return nil
	}
	st := r.GetSettle()
	if st == nil {
		return invalidf("after Subscribe a Consume stream takes only Settle and Settles messages; prefetch cannot change mid-stream")
	}
	_, err := settleKind(st)
	return err
}

// validateGet: a get that is not auto-acked belongs to a session until
// settled, so it needs one.
func (l Limits) validateGet(r *pb.GetRequest) error {
	if err := l.checkName("queue", r.GetQueue(), false); err != nil {
		return err
	}
	if err := checkSession(r.GetSessionId(), !r.GetAutoAck()); err != nil {
		return err
	}
	if r.GetLeaseMs() < 0 {
		return invalidf("lease_ms is negative")
	}
	return nil
}

func (l Limits) validateSettle(r *pb.SettleRequest) error {
	if err := l.checkName("queue", r.GetQueue(), false); err != nil {
		return err
	}
	if err := checkSession(r.GetSessionId(), true); err != nil {
		return err
	}
	if r.GetSettle() == nil {
		return invalidf("settle is missing")
	}
	_, err := settleKind(r.GetSettle())
	return err
}

// validateSession validates the first message of a Session stream, which
// names the session; later ones are pings and carry nothing to check.
func (l Limits) validateSession(r *pb.SessionRequest) error {
	if hb := r.GetHeartbeatMs(); hb != 0 && (hb < minHeartbeatMs || hb > maxHeartbeatMs) {
		return invalidf("heartbeat must be 0 (none) or %d to %d ms, not %d", minHeartbeatMs, maxHeartbeatMs, hb)
	}
	return checkSession(r.GetSessionId(), true)
}

// validateClusterStatus accepts every request: it has no fields.
func (l Limits) validateClusterStatus(*pb.ClusterStatusRequest) error { return nil }

// validateLeaveCluster accepts every request: it has no fields.
func (l Limits) validateLeaveCluster(*pb.LeaveClusterRequest) error { return nil }

func (l Limits) validateRemoveNode(r *pb.RemoveNodeRequest) error {
	return l.checkName("node id", r.GetNodeId(), false)
}

// validateGossipKey: a known operation; LIST takes no key, the others the
// standard base64 of a 16, 24 or 32-byte key. The message never repeats
// the key.
func (l Limits) validateGossipKey(r *pb.GossipKeyRequest) error {
	_, err := gossipKeyArgs(r.GetOp(), r.GetKey())
	return err
}

// gossipKeyArgs checks a client's keyring operation and decodes its key
// (nil for LIST).
func gossipKeyArgs(op pb.GossipKeyOp, key string) ([]byte, error) {
	switch {
	case !knownGossipKeyOp(op):
		return nil, invalidf("op: give LIST, INSTALL, USE or REMOVE, not %v", op)
	case op == pb.GossipKeyOp_GOSSIP_KEY_OP_LIST:
		if key != "" {
			return nil, invalidf("key: LIST takes no key")
		}
		return nil, nil
	}
	raw, err := cluster.ParseGossipKey(key)
	if err != nil {
		return nil, invalidf("key: %v", err)
	}
	return raw, nil
}

func knownGossipKeyOp(op pb.GossipKeyOp) bool {
	switch op {
	case pb.GossipKeyOp_GOSSIP_KEY_OP_LIST, pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL,
		pb.GossipKeyOp_GOSSIP_KEY_OP_USE, pb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE:
		return true
	}
	return false
}
