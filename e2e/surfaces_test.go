package e2e_test

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestClientPortServesNoNodeService: the node-to-node API lives on the
// cluster port, so a client on the client port cannot reach an RPC that
// appends raw bytes to a log. The 5-byte command of an unknown type that
// used to stop the meta group gets UNIMPLEMENTED, and the node serves on.
func TestClientPortServesNoNodeService(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{})
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	internal := pb.NewNodeServiceClient(cc)
	ctx := testCtx(t, 10*time.Second)
	if _, err := internal.Propose(ctx, &pb.ProposeRequest{Group: "meta", Command: []byte{1, 99, 0, 0, 0}}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("NodeService/Propose on the client port: %v, want UNIMPLEMENTED", err)
	}
	if _, err := internal.RemoveMember(ctx, &pb.RemoveMemberRequest{Group: "meta", NodeId: "test-node"}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("NodeService/RemoveMember on the client port: %v, want UNIMPLEMENTED", err)
	}
	if _, err := n.Dial(t).DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "after-probe"}); err != nil {
		t.Fatalf("declare after the probe: %v", err)
	}
}
