package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/broker"
)

// TestPublishCountsHeadersTowardMaxLengthBytes: on a node of this build
// (every server of the group gossips the FSM version of the size rule) a
// message's headers and properties count toward max-length-bytes and
// ready bytes, so messages with a 1-byte body and 200 KiB of headers fill
// a 512 KiB queue after two.
func TestPublishCountsHeadersTowardMaxLengthBytes(t *testing.T) {
	n := startCluster(t, 1, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(30*time.Second))
	defer cancel()
	const limit = 512 << 10
	_, _, err := n.b.DeclareQueue(ctx, broker.QueueSpec{Name: "capped", Args: map[string]broker.Value{
		"x-max-length-bytes": {Type: broker.ValueInt, Int: limit},
		"x-overflow":         {Type: broker.ValueString, Str: "reject-publish"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]broker.Value{}
	for i := range 4 {
		headers[fmt.Sprintf("h%d", i)] = broker.Value{Type: broker.ValueString, Str: strings.Repeat("v", 50<<10)}
	}
	msg := broker.Message{Body: []byte("x"), Headers: headers, Properties: broker.Properties{MessageID: "0123456789"}}
	size := uint64(1 + 4*(2+50<<10) + 10)
	var statuses []broker.PublishStatus
	for range 4 {
		out, err := n.b.Publish(ctx, "", "", []broker.PublishEntry{{RoutingKey: "capped", Message: msg}})
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, out[0].Status)
	}
	want := []broker.PublishStatus{broker.PublishConfirmed, broker.PublishConfirmed, broker.PublishRejected, broker.PublishRejected}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v", statuses, want)
	}
	q, err := n.b.Queue("", "capped")
	if err != nil {
		t.Fatal(err)
	}
	if q.Ready != 2 || q.ReadyBytes != 2*size {
		t.Fatalf("ready %d (%d bytes), want 2 (%d bytes)", q.Ready, q.ReadyBytes, 2*size)
	}
}
