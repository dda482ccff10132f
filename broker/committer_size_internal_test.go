package broker

import (
	"testing"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestFullEntryFitsTheRaftLimit: an Enqueue filled as the committer fills
// one (requests added while their requestSize fits in maxBatchBytes), of
// one-message requests with 1 KiB bodies, encodes within
// raftgroup.MaxEntrySize. Counting bare message sizes against the whole
// limit made such an entry 691 bytes too large (seen with
// `warren bench --batch 1000`), and its publishes failed with
// ErrEntryTooLarge.
func TestFullEntryFitsTheRaftLimit(t *testing.T) {
	spec := &fsmpb.QueueSpec{Id: 7, Name: "bulk", Vhost: "/"}
	cmd := &fsmpb.Enqueue{NowMs: 1 << 62, SizeRule: fsmpb.SizeRule(1), Queues: []*fsmpb.QueueSpec{spec}}
	size := 0
	for {
		m := &fsmpb.EnqueueMessage{QueueRefs: []uint32{0}, ProducerId: "p-0123456789abcdef", Sequence: 1 << 40,
			Payload: &fsmpb.Payload{Body: make([]byte, 1024)}}
		sz := requestSize([]*fsmpb.QueueSpec{spec}, []*fsmpb.EnqueueMessage{m})
		if size+sz > maxBatchBytes {
			break
		}
		size += sz
		cmd.Messages = append(cmd.Messages, m)
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > raftgroup.MaxEntrySize {
		t.Fatalf("a full entry of %d messages encodes to %d bytes, over the limit %d", len(cmd.Messages), len(data), raftgroup.MaxEntrySize)
	}
	if len(cmd.Messages) < 200 {
		t.Fatalf("only %d 1 KiB messages fit in an entry", len(cmd.Messages))
	}
}

// TestEnqueueFlagsRedeliveredOnlyWhenEveryServerKnowsIt: with the gate
// open a flagged payload goes into the entry as it is; closed (a server of
// the group predates Payload.redelivered, and would deliver the message
// unflagged while the others flag it) the entry carries an unflagged copy,
// and the payload, which the Enqueue of another group may share, keeps
// its flag.
func TestEnqueueFlagsRedeliveredOnlyWhenEveryServerKnowsIt(t *testing.T) {
	spec := &fsmpb.QueueSpec{Id: 7, Name: "q", Vhost: "/"}
	shared := &fsmpb.Payload{Body: []byte("b"), RoutingKey: "q", Redelivered: true}
	req := func() *enqueueReq {
		return &enqueueReq{queues: []*fsmpb.QueueSpec{spec}, msgs: []*fsmpb.EnqueueMessage{
			{QueueRefs: []uint32{0}, Payload: shared},
			{QueueRefs: []uint32{0}, Payload: &fsmpb.Payload{Body: []byte("c"), RoutingKey: "q"}},
		}}
	}
	open := buildEnqueue([]*enqueueReq{req()}, fsmpb.SizeRule_SIZE_RULE_BODY, true)
	if got := open.Messages[0].GetPayload(); got != shared {
		t.Fatalf("gate open: the flagged payload was replaced by %v", got)
	}
	closed := buildEnqueue([]*enqueueReq{req()}, fsmpb.SizeRule_SIZE_RULE_BODY, false)
	got := closed.Messages[0].GetPayload()
	if got.GetRedelivered() || string(got.GetBody()) != "b" || got.GetRoutingKey() != "q" {
		t.Fatalf("gate closed: entry payload %v, want the message unflagged", got)
	}
	if !shared.GetRedelivered() {
		t.Fatal("gate closed: the shared payload lost its flag")
	}
	if p := closed.Messages[1].GetPayload(); string(p.GetBody()) != "c" || p.GetRedelivered() {
		t.Fatalf("gate closed: the unflagged message became %v", p)
	}
	if cluster.FSMVersion < dedupFlagsVersion {
		t.Fatalf("this build gossips FSM version %d but flags payloads of version %d", cluster.FSMVersion, dedupFlagsVersion)
	}
}
