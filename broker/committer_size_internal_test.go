package broker

import (
	"testing"

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
