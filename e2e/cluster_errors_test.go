package e2e_test

import (
	"errors"
	"testing"
	"time"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestForwardedErrorsKeepTheirSentinel: a declaration that a follower
// forwards to the meta leader, and that the state machine refuses, comes
// back as the very error the leader had: errors.Is finds fsm.ErrExists,
// not fsm.ErrPrecondition, which shares its gRPC code. A client sees
// FAILED_PRECONDITION with the reason EXISTS whichever node it asked.
func TestForwardedErrorsKeepTheirSentinel(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{QueueGroups: 2})
	var follower, leader *transporttest.Node
	eventually(t, 20*time.Second, "a known meta leader", func() error {
		follower, leader = nil, nil
		for _, n := range nodes {
			if n.Broker.Node().Group("meta").IsLeader() {
				leader = n
			} else {
				follower = n
			}
		}
		if leader == nil || follower == nil {
			return errors.New("no meta leader yet")
		}
		return nil
	})
	ctx := testCtx(t, 30*time.Second)
	if _, err := follower.Broker.DeclareExchange(ctx, broker.ExchangeSpec{Name: "fwd-x", Kind: "direct"}); err != nil {
		t.Fatalf("declare through a follower: %v", err)
	}
	_, err := follower.Broker.DeclareExchange(ctx, broker.ExchangeSpec{Name: "fwd-x", Kind: "fanout"})
	if !errors.Is(err, fsm.ErrExists) || errors.Is(err, fsm.ErrPrecondition) {
		t.Fatalf("re-declare with another kind through a follower: %v, want fsm.ErrExists", err)
	}
	for _, n := range []*transporttest.Node{follower, leader} {
		_, err := n.Dial(t).DeclareExchange(ctx, &pb.DeclareExchangeRequest{Name: "fwd-x", Kind: "fanout"})
		if status.Code(err) != codes.FailedPrecondition || errorReason(err) != "EXISTS" {
			t.Errorf("re-declare through %s: %v (reason %q), want FAILED_PRECONDITION, EXISTS",
				n.Broker.Node().NodeID(), err, errorReason(err))
		}
	}
}
