package transport

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warrenmq/warren/routing"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// RequestType is one request type of BrokerService and its validation
// function. Exported (from a test file) for server_fuzz_test.go, which is
// in package transport_test because it needs transporttest.
type RequestType struct {
	// Name is the RPC's name; the two kinds of Consume message are
	// "ConsumeSubscribe" (the first) and "ConsumeSettle" (later ones).
	Name string
	// New returns an empty request.
	New      func() proto.Message
	validate func(Limits, proto.Message) error
}

func requestType[T proto.Message](name string, validate func(Limits, T) error) RequestType {
	return RequestType{
		Name: name,
		New: func() proto.Message {
			var zero T
			return zero.ProtoReflect().New().Interface()
		},
		validate: func(l Limits, m proto.Message) error { return validate(l, m.(T)) },
	}
}

// RequestTypes lists every request type of BrokerService, in a fixed
// order: a fuzz input's first byte picks one (modulo the length), so
// append new types at the end to keep the committed corpora meaningful.
var RequestTypes = []RequestType{
	requestType("DeclareExchange", Limits.validateDeclareExchange),
	requestType("DeleteExchange", Limits.validateDeleteExchange),
	requestType("ListExchanges", Limits.validateListExchanges),
	requestType("DeclareQueue", Limits.validateDeclareQueue),
	requestType("DeleteQueue", Limits.validateDeleteQueue),
	requestType("PurgeQueue", Limits.validatePurgeQueue),
	requestType("ListQueues", Limits.validateListQueues),
	requestType("BindQueue", Limits.validateBindQueue),
	requestType("UnbindQueue", Limits.validateUnbindQueue),
	requestType("ListBindings", Limits.validateListBindings),
	requestType("Publish", Limits.validatePublish),
	requestType("ConsumeSubscribe", Limits.validateSubscribe),
	requestType("ConsumeSettle", Limits.validateConsumeSettle),
	requestType("Get", Limits.validateGet),
	requestType("Settle", Limits.validateSettle),
	requestType("Session", Limits.validateSession),
	requestType("ClusterStatus", Limits.validateClusterStatus),
	requestType("LeaveCluster", Limits.validateLeaveCluster),
	requestType("RemoveNode", Limits.validateRemoveNode),
	requestType("GossipKey", Limits.validateGossipKey),
}

// RequestKind returns the fuzz kind byte of the named request type.
func RequestKind(name string) byte {
	for i, rt := range RequestTypes {
		if rt.Name == name {
			return byte(i)
		}
	}
	panic("no request type " + name)
}

// tinyLimits are limits small enough that a fuzzer's short inputs reach
// every boundary.
func tinyLimits() Limits {
	return Limits{
		MaxMessageBytes: 16, MaxNameBytes: 8, MaxHeaders: 2, MaxHeaderValueBytes: 8,
		MaxPrefetch: 100, MaxPublishBatch: 3, MaxRequestBytes: 1 << 10,
	}
}

// FuzzValidateRequests decodes arbitrary bytes as the request type its
// first argument picks and validates it, under the default limits and under
// tiny ones. Validation must never panic, must not change the request, must
// give the same answer twice, must refuse only with INVALID_ARGUMENT or
// RESOURCE_EXHAUSTED, and what it accepts must satisfy the documented
// limits as documentedLimits states them, independently of validate*.go.
func FuzzValidateRequests(f *testing.F) {
	for _, s := range RequestSeeds(f) {
		f.Add(s.Kind, s.Data)
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		rt := RequestTypes[int(kind)%len(RequestTypes)]
		msg := rt.New()
		if err := proto.Unmarshal(data, msg); err != nil {
			return // gRPC refuses it before any handler runs
		}
		before := proto.Clone(msg)
		for _, l := range []Limits{DefaultLimits(), tinyLimits()} {
			err := rt.validate(l, msg)
			if !proto.Equal(before, msg) {
				t.Fatalf("%s: validation changed the request", rt.Name)
			}
			if again := rt.validate(l, msg); fmt.Sprint(again) != fmt.Sprint(err) {
				t.Fatalf("%s: validation is not deterministic: %v, then %v", rt.Name, err, again)
			}
			if err != nil {
				st, ok := status.FromError(err)
				if !ok || (st.Code() != codes.InvalidArgument && st.Code() != codes.ResourceExhausted) || st.Message() == "" {
					t.Fatalf("%s: refused with %v; want INVALID_ARGUMENT or RESOURCE_EXHAUSTED with a message", rt.Name, err)
				}
				continue
			}
			if err := documentedLimits(l, rt.Name, msg); err != nil {
				t.Fatalf("%s accepted under %+v but %v\nrequest: %v", rt.Name, l, err, msg)
			}
		}
	})
}

// TestRequestTypesCoverTheService fails when BrokerService gains an RPC
// whose request type has no validation function in RequestTypes.
func TestRequestTypesCoverTheService(t *testing.T) {
	have := map[protoreflect.FullName]bool{}
	for _, rt := range RequestTypes {
		have[rt.New().ProtoReflect().Descriptor().FullName()] = true
	}
	svc := pb.File_warren_v1_broker_proto.Services().ByName("BrokerService")
	methods := svc.Methods()
	for i := 0; i < methods.Len(); i++ {
		m := methods.Get(i)
		if !have[m.Input().FullName()] {
			t.Errorf("BrokerService.%s takes %s, which has no validation function in RequestTypes", m.Name(), m.Input().FullName())
		}
	}
}

// TestValidateSeeds keeps the seed corpus meaningful: the seeds named
// "ok-…" pass validation, the "bad-…" ones are refused.
func TestValidateSeeds(t *testing.T) {
	for _, s := range RequestSeeds(t) {
		rt := RequestTypes[s.Kind]
		msg := rt.New()
		if err := proto.Unmarshal(s.Data, msg); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		err := rt.validate(DefaultLimits(), msg)
		if strings.HasPrefix(s.Name, "ok-") && err != nil {
			t.Errorf("%s refused: %v", s.Name, err)
		}
		if strings.HasPrefix(s.Name, "bad-") && err == nil {
			t.Errorf("%s accepted", s.Name)
		}
	}
}

// documentedLimits states README "Limits" over a request's fields, by
// their names, without using the validation code: names, keys and
// routing keys at most MaxNameBytes of UTF-8; session and publisher ids at
// most 128 bytes; headers and arguments at most MaxHeaders entries with
// non-empty keys; string and bytes values and string properties at most
// MaxHeaderValueBytes; bodies at most MaxMessageBytes; 1..MaxPublishBatch
// entries per publish; 1..MaxSettlesPerMessage settles per Settles; prefetch 0..MaxPrefetch; no negative durations.
// A field it does not know is an error, so a new field gets a documented
// limit (or an explicit "any value").
func documentedLimits(l Limits, typeName string, m proto.Message) error {
	if err := requiredFields(typeName, m); err != nil {
		return err
	}
	return walkLimits(l, m.ProtoReflect())
}

func walkLimits(l Limits, m protoreflect.Message) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = fieldLimits(l, fd, v)
		return err == nil
	})
	return err
}

// unlimited lists the fields that may hold any value of their type.
var unlimited = map[string]bool{
	"min_meta_index": true, "passive": true, "auto_delete": true, "internal": true, "exclusive": true,
	"if_unused": true, "if_empty": true, "mandatory": true, "sequence": true, "delivery_tag": true,
	"multiple": true, "requeue": true, "auto_ack": true, "timestamp_ms": true, "priority": true, "direct": true,
	"state_updates": true, "leader_notices": true, "batch": true,
	"int_value": true, "bool_value": true, "double_value": true,
	// Checked by requiredFields against the request as a whole.
	"kind": true, "ack_mode": true, "op": true,
}

func fieldLimits(l Limits, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	name := string(fd.Name())
	switch {
	case fd.IsMap():
		if name != "headers" && name != "arguments" {
			return fmt.Errorf("map field %s has no documented limit", fd.FullName())
		}
		if n := v.Map().Len(); n > l.MaxHeaders {
			return fmt.Errorf("%s has %d entries > %d", name, n, l.MaxHeaders)
		}
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			key := k.String()
			if key == "" || len(key) > l.MaxNameBytes || !utf8.ValidString(key) {
				err = fmt.Errorf("%s key %q is empty, longer than %d or not UTF-8", name, key, l.MaxNameBytes)
				return false
			}
			err = walkLimits(l, mv.Message())
			return err == nil
		})
		return err
	case fd.IsList():
		limit := map[string]int{"entries": l.MaxPublishBatch, "settles": MaxSettlesPerMessage}
		most, ok := limit[name]
		if !ok {
			return fmt.Errorf("list field %s has no documented limit", fd.FullName())
		}
		if n := v.List().Len(); n > most {
			return fmt.Errorf("%d %s > %d", n, name, most)
		}
		for i := 0; i < v.List().Len(); i++ {
			if err := walkLimits(l, v.List().Get(i).Message()); err != nil {
				return err
			}
		}
		return nil
	case name == "list_value" || name == "table_value":
		// A list or table header value counts as one value: its encoding.
		if n := proto.Size(v.Message().Interface()); n > l.MaxHeaderValueBytes {
			return fmt.Errorf("%s is %d bytes > %d", fd.FullName(), n, l.MaxHeaderValueBytes)
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind:
		return walkLimits(l, v.Message())
	case unlimited[name]:
		return nil
	case name == "destination_kind":
		if k := v.Enum(); k < 0 || k > 2 {
			return fmt.Errorf("destination_kind %d is none of UNSPECIFIED, QUEUE, EXCHANGE", k)
		}
		return nil
	case name == "consumer_timeout_ms":
		if ms := v.Int(); ms < 0 {
			return fmt.Errorf("consumer_timeout_ms %d < 0", ms)
		}
		return nil
	case name == "heartbeat_ms":
		if ms := v.Uint(); ms != 0 && (ms < 100 || ms > 60000) {
			return fmt.Errorf("heartbeat_ms %d is neither 0 nor 100..60000", ms)
		}
		return nil
	case name == "page_size":
		if v.Uint() > maxPageSize {
			return fmt.Errorf("page_size %d > %d", v.Uint(), maxPageSize)
		}
		return nil
	case name == "page_token":
		if _, err := base64.RawURLEncoding.DecodeString(v.String()); err != nil {
			return fmt.Errorf("page_token %q is no token the server gives", v.String())
		}
		return nil
	}
	parent := string(fd.ContainingMessage().Name())
	switch {
	case fd.Kind() == protoreflect.StringKind && parent == "Properties",
		name == "string_value":
		if n := len(v.String()); n > l.MaxHeaderValueBytes || !utf8.ValidString(v.String()) {
			return fmt.Errorf("%s is %d bytes > %d or not UTF-8", fd.FullName(), n, l.MaxHeaderValueBytes)
		}
	case name == "bytes_value":
		if n := len(v.Bytes()); n > l.MaxHeaderValueBytes {
			return fmt.Errorf("%s is %d bytes > %d", fd.FullName(), n, l.MaxHeaderValueBytes)
		}
	case name == "body":
		if n := len(v.Bytes()); n > l.MaxMessageBytes {
			return fmt.Errorf("body is %d bytes > %d", n, l.MaxMessageBytes)
		}
	case name == "name" || name == "queue" || name == "exchange" || name == "consumer_tag" ||
		name == "routing_key" || name == "binding_key" || name == "node_id":
		if n := len(v.String()); n > l.MaxNameBytes || !utf8.ValidString(v.String()) {
			return fmt.Errorf("%s is %d bytes > %d or not UTF-8", fd.FullName(), n, l.MaxNameBytes)
		}
	case name == "session_id" || name == "publisher_id":
		if n := len(v.String()); n > 128 || !utf8.ValidString(v.String()) {
			return fmt.Errorf("%s is %d bytes > 128 or not UTF-8", fd.FullName(), n)
		}
	case name == "prefetch":
		if p := v.Int(); p < 0 || p > int64(l.MaxPrefetch) {
			return fmt.Errorf("prefetch %d is outside 0..%d", p, l.MaxPrefetch)
		}
	case name == "key" && parent == "GossipKeyRequest":
		// README: the standard base64 of a 16, 24 or 32-byte key.
		raw, err := base64.StdEncoding.DecodeString(v.String())
		if n := len(raw); err != nil || (n != 16 && n != 24 && n != 32) {
			return fmt.Errorf("gossip key is not the base64 of 16, 24 or 32 bytes (%d bytes, %v)", n, err)
		}
	case name == "expiration_ms" || name == "lease_ms":
		if v.Int() < 0 {
			return fmt.Errorf("%s is negative", fd.FullName())
		}
	default:
		return fmt.Errorf("field %s has no documented limit", fd.FullName())
	}
	return nil
}

// requiredFields states what each request must contain, as the API
// documents it.
func requiredFields(typeName string, m proto.Message) error {
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s is required", what)
		}
		return nil
	}
	switch r := m.(type) {
	case *pb.DeclareExchangeRequest:
		if r.GetPassive() {
			return nil
		}
		if _, err := routing.ParseKind(r.GetKind()); err != nil {
			return fmt.Errorf("kind %q: %v", r.GetKind(), err)
		}
		return need(r.GetName() != "", "a name (the default exchange exists)")
	case *pb.DeleteExchangeRequest:
		return need(r.GetName() != "", "a name (the default exchange cannot go)")
	case *pb.DeclareQueueRequest:
		return need(!r.GetExclusive() || r.GetSessionId() != "", "a session for an exclusive queue")
	case *pb.DeleteQueueRequest:
		return need(r.GetName() != "", "a queue name")
	case *pb.PurgeQueueRequest:
		return need(r.GetName() != "", "a queue name")
	case *pb.BindQueueRequest:
		return need(r.GetQueue() != "", "a queue name")
	case *pb.UnbindQueueRequest:
		return need(r.GetQueue() != "", "a queue name")
	case *pb.PublishRequest:
		return need(len(r.GetEntries()) > 0, "an entry")
	case *pb.ConsumeRequest:
		if typeName == "ConsumeSubscribe" {
			sub := r.GetSubscribe()
			if err := need(sub != nil && sub.GetQueue() != "", "a Subscribe with a queue"); err != nil {
				return err
			}
			mode := sub.GetAckMode()
			return need(mode == pb.AckMode_ACK_MODE_UNSPECIFIED || mode == pb.AckMode_ACK_MODE_MANUAL || mode == pb.AckMode_ACK_MODE_AUTO, "a known ack mode")
		}
		if ss := r.GetSettles(); ss != nil {
			n := len(ss.GetSettles())
			if n == 0 || n > MaxSettlesPerMessage {
				return fmt.Errorf("%d settles in a Settles, not 1 to %d", n, MaxSettlesPerMessage)
			}
			for _, st := range ss.GetSettles() {
				if err := settleRequired(st); err != nil {
					return err
				}
			}
			return nil
		}
		return settleRequired(r.GetSettle())
	case *pb.GetRequest:
		if err := need(r.GetQueue() != "", "a queue name"); err != nil {
			return err
		}
		return need(r.GetAutoAck() || r.GetSessionId() != "", "a session for a get that is not auto-acked")
	case *pb.SettleRequest:
		if err := need(r.GetQueue() != "" && r.GetSessionId() != "", "a queue and a session"); err != nil {
			return err
		}
		return settleRequired(r.GetSettle())
	case *pb.SessionRequest:
		return need(r.GetSessionId() != "", "a session id")
	case *pb.RemoveNodeRequest:
		return need(r.GetNodeId() != "", "a node id")
	case *pb.GossipKeyRequest:
		switch r.GetOp() {
		case pb.GossipKeyOp_GOSSIP_KEY_OP_LIST:
			return need(r.GetKey() == "", "no key for LIST")
		case pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL, pb.GossipKeyOp_GOSSIP_KEY_OP_USE, pb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE:
			return need(r.GetKey() != "", "a key")
		}
		return fmt.Errorf("gossip keyring operation %v is not LIST, INSTALL, USE or REMOVE", r.GetOp())
	case *pb.ListExchangesRequest, *pb.ListQueuesRequest, *pb.ListBindingsRequest, *pb.ClusterStatusRequest, *pb.LeaveClusterRequest:
		return nil
	}
	return fmt.Errorf("request type %T has no documented requirements", m)
}

func settleRequired(st *pb.Settle) error {
	switch {
	case st == nil:
		return fmt.Errorf("a Settle is required")
	case st.GetKind() != pb.SettleKind_SETTLE_KIND_ACK && st.GetKind() != pb.SettleKind_SETTLE_KIND_NACK && st.GetKind() != pb.SettleKind_SETTLE_KIND_REJECT:
		return fmt.Errorf("settle kind %v is not ACK, NACK or REJECT", st.GetKind())
	case st.GetKind() == pb.SettleKind_SETTLE_KIND_REJECT && st.GetMultiple():
		return fmt.Errorf("a reject settles one delivery")
	}
	return nil
}

// RequestSeed is one seed input of the request fuzz targets.
type RequestSeed struct {
	Name string // "ok-…" passes validation, "bad-…" does not
	Kind byte
	Data []byte
}

// RequestSeeds returns valid and invalid requests of every type. They use
// the queue "jobs" and the topic exchange "logs", which FuzzServerRequests
// declares first, so valid seeds reach the node's state machines.
func RequestSeeds(t testing.TB) []RequestSeed {
	str := func(s string) *pb.Value { return &pb.Value{Kind: &pb.Value_StringValue{StringValue: s}} }
	num := func(n int64) *pb.Value { return &pb.Value{Kind: &pb.Value_IntValue{IntValue: n}} }
	msg := func(body string) *pb.Message {
		return &pb.Message{Body: []byte(body), Headers: map[string]*pb.Value{"k": str("v")}, Properties: &pb.Properties{MessageId: "m1", ExpirationMs: 60000}}
	}
	ack := &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_ACK, DeliveryTag: 1}
	seeds := []struct {
		name, rpc string
		req       proto.Message
	}{
		{"ok-declare-exchange", "DeclareExchange", &pb.DeclareExchangeRequest{Name: "logs", Kind: "topic", Arguments: map[string]*pb.Value{"note": str("x")}}},
		{"ok-declare-exchange-passive", "DeclareExchange", &pb.DeclareExchangeRequest{Name: "amq.topic", Passive: true}},
		{"bad-declare-exchange-kind", "DeclareExchange", &pb.DeclareExchangeRequest{Name: "x", Kind: "bogus"}},
		{"ok-delete-exchange", "DeleteExchange", &pb.DeleteExchangeRequest{Name: "gone", IfUnused: true}},
		{"bad-delete-default-exchange", "DeleteExchange", &pb.DeleteExchangeRequest{}},
		{"ok-list-exchanges", "ListExchanges", &pb.ListExchangesRequest{}},
		{"ok-declare-queue", "DeclareQueue", &pb.DeclareQueueRequest{Name: "jobs", Arguments: map[string]*pb.Value{"x-max-length": num(1000)}}},
		{"ok-declare-queue-generated", "DeclareQueue", &pb.DeclareQueueRequest{Exclusive: true, SessionId: "s1"}},
		{"bad-declare-queue-arg", "DeclareQueue", &pb.DeclareQueueRequest{Name: "q", Arguments: map[string]*pb.Value{"x-max-length": str("ten")}}},
		{"bad-declare-queue-long-name", "DeclareQueue", &pb.DeclareQueueRequest{Name: strings.Repeat("q", 256)}},
		{"ok-delete-queue", "DeleteQueue", &pb.DeleteQueueRequest{Name: "other", IfEmpty: true}},
		{"bad-delete-queue-unnamed", "DeleteQueue", &pb.DeleteQueueRequest{}},
		{"ok-purge-queue", "PurgeQueue", &pb.PurgeQueueRequest{Name: "jobs"}},
		{"ok-list-queues", "ListQueues", &pb.ListQueuesRequest{}},
		{"ok-bind", "BindQueue", &pb.BindQueueRequest{Exchange: "logs", Queue: "jobs", BindingKey: "a.*"}},
		{"ok-bind-headers", "BindQueue", &pb.BindQueueRequest{Exchange: "amq.headers", Queue: "jobs", Arguments: map[string]*pb.Value{"x-match": str("any"), "k": {}}}},
		{"bad-bind-unnamed-queue", "BindQueue", &pb.BindQueueRequest{Exchange: "logs"}},
		{"ok-unbind", "UnbindQueue", &pb.UnbindQueueRequest{Exchange: "logs", Queue: "jobs", BindingKey: "a.*"}},
		{"ok-list-bindings", "ListBindings", &pb.ListBindingsRequest{Exchange: "logs"}},
		{"ok-publish", "Publish", &pb.PublishRequest{PublisherId: "p1", Entries: []*pb.PublishEntry{
			{RoutingKey: "jobs", Message: msg("hello"), Sequence: 1},
			{Exchange: "logs", RoutingKey: "a.b", Message: msg("routed"), Mandatory: true, Sequence: 2},
		}}},
		{"bad-publish-empty", "Publish", &pb.PublishRequest{}},
		{"bad-publish-expiration", "Publish", &pb.PublishRequest{Entries: []*pb.PublishEntry{{RoutingKey: "jobs", Message: &pb.Message{Properties: &pb.Properties{ExpirationMs: -1}}}}}},
		{"ok-subscribe", "ConsumeSubscribe", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{Queue: "jobs", Prefetch: 2, AckMode: pb.AckMode_ACK_MODE_AUTO}}}},
		{"bad-subscribe-prefetch", "ConsumeSubscribe", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{Queue: "jobs", Prefetch: -1}}}},
		{"bad-subscribe-settle-first", "ConsumeSubscribe", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: ack}}},
		{"ok-consume-settle", "ConsumeSettle", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: ack}}},
		{"ok-consume-settles", "ConsumeSettle", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settles{Settles: &pb.Settles{Settles: []*pb.Settle{ack, {Kind: pb.SettleKind_SETTLE_KIND_NACK, DeliveryTag: 2, Requeue: true}}}}}},
		{"bad-consume-settles-empty", "ConsumeSettle", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settles{Settles: &pb.Settles{}}}},
		{"bad-consume-settles-reject-multiple", "ConsumeSettle", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settles{Settles: &pb.Settles{Settles: []*pb.Settle{ack, {Kind: pb.SettleKind_SETTLE_KIND_REJECT, Multiple: true}}}}}},
		{"bad-consume-reject-multiple", "ConsumeSettle", &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Settle{Settle: &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_REJECT, Multiple: true}}}},
		{"ok-get", "Get", &pb.GetRequest{Queue: "jobs", AutoAck: true}},
		{"ok-get-session", "Get", &pb.GetRequest{Queue: "jobs", SessionId: "s1", LeaseMs: 1000}},
		{"bad-get-no-session", "Get", &pb.GetRequest{Queue: "jobs"}},
		{"bad-get-negative-lease", "Get", &pb.GetRequest{Queue: "jobs", AutoAck: true, LeaseMs: -1}},
		{"ok-settle", "Settle", &pb.SettleRequest{Queue: "jobs", SessionId: "s1", Settle: &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_NACK, DeliveryTag: 1, Requeue: true}}},
		{"bad-settle-missing", "Settle", &pb.SettleRequest{Queue: "jobs", SessionId: "s1"}},
		{"ok-session", "Session", &pb.SessionRequest{SessionId: "s1"}},
		{"bad-session-unnamed", "Session", &pb.SessionRequest{}},
		{"ok-cluster-status", "ClusterStatus", &pb.ClusterStatusRequest{}},
		{"ok-remove-node", "RemoveNode", &pb.RemoveNodeRequest{NodeId: "no-such-node"}},
		{"bad-remove-node-unnamed", "RemoveNode", &pb.RemoveNodeRequest{}},
		// The node the server fuzzer runs has no gossip key: these are
		// refused with FAILED_PRECONDITION there.
		{"ok-gossip-key-list", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_LIST}},
		{"ok-gossip-key-install", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL, Key: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}},
		{"ok-gossip-key-use", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_USE, Key: "AAECAwQFBgcICQoLDA0ODw=="}},
		{"bad-gossip-key-short", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE, Key: "AAECAwQFBgcICQoL"}},
		{"bad-gossip-key-not-base64", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL, Key: "not a key"}},
		{"bad-gossip-key-no-op", "GossipKey", &pb.GossipKeyRequest{Key: "AAECAwQFBgcICQoLDA0ODw=="}},
		{"bad-gossip-key-list-with-key", "GossipKey", &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_LIST, Key: "AAECAwQFBgcICQoLDA0ODw=="}},
	}
	out := make([]RequestSeed, 0, len(seeds))
	for _, s := range seeds {
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.req)
		if err != nil {
			t.Fatalf("seed %s: %v", s.name, err)
		}
		out = append(out, RequestSeed{Name: s.name, Kind: RequestKind(s.rpc), Data: data})
	}
	return out
}

// The -update flag rewrites the seed corpora; registered unless another
// test file of the package did already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite fuzz seed corpora")
	}
}

func updateFiles() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	b, _ := g.Get().(bool)
	return b
}

// TestWriteRequestFuzzSeeds writes RequestSeeds as the committed seed
// corpora of FuzzValidateRequests and FuzzServerRequests, with -update.
func TestWriteRequestFuzzSeeds(t *testing.T) {
	if !updateFiles() {
		t.Skip("run with -update to rewrite the seed corpora")
	}
	for _, target := range []string{"FuzzValidateRequests", "FuzzServerRequests"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range RequestSeeds(t) {
			body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(s.Kind), s.Data)
			if err := os.WriteFile(filepath.Join(dir, s.Name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
