package cluster_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestStatusRoundTrip: an error that crosses a node-to-node call comes back
// as the error the peer had; errors.Is finds the same sentinel, also where
// two sentinels share a code (EXISTS and PRECONDITION).
func TestStatusRoundTrip(t *testing.T) {
	sentinels := []error{
		fsm.ErrNotFound, fsm.ErrExists, fsm.ErrInvalid, fsm.ErrPrecondition, fsm.ErrUnknownCommand, fsm.ErrBadCommand, fsm.ErrAccessRefused,
		raftgroup.ErrOutcomeUnknown, raftgroup.ErrGroupClosed, raftgroup.ErrEntryTooLarge,
		cluster.ErrShuttingDown, cluster.ErrMemberAlive,
	}
	for _, sentinel := range sentinels {
		err := fmt.Errorf("%w: queue %q", sentinel, "jobs")
		st, ok := cluster.Status(err)
		if !ok {
			t.Fatalf("%v: not in the table", sentinel)
		}
		back := cluster.FromStatus(st.Err())
		for _, other := range sentinels {
			if got, want := errors.Is(back, other), errors.Is(err, other); got != want {
				t.Errorf("%v: after the round trip errors.Is(%v) = %t, want %t", sentinel, other, got, want)
			}
		}
		if back.Error() != err.Error() {
			t.Errorf("%v: text %q, want %q", sentinel, back, err)
		}
		inBand := cluster.ErrorOf(st.Code(), cluster.Reason(err), st.Message())
		if !errors.Is(inBand, sentinel) {
			t.Errorf("%v: ErrorOf gives %v", sentinel, inBand)
		}
	}
	// A shutdown after appending is an outcome-unknown error first.
	both := fmt.Errorf("raft group q0: %w: %w", raftgroup.ErrOutcomeUnknown, raftgroup.ErrGroupClosed)
	if r := cluster.Reason(both); r != "OUTCOME_UNKNOWN" {
		t.Errorf("outcome unknown and closed: reason %q", r)
	}
}

func TestNotLeaderRoundTrip(t *testing.T) {
	nle := raftgroup.NewNotLeaderError("q1", "node2", "10.0.0.2:5681")
	st, ok := cluster.Status(fmt.Errorf("forwarded: %w", nle))
	if !ok || st.Code() != codes.Unavailable {
		t.Fatalf("status %v, %t", st, ok)
	}
	var back *raftgroup.NotLeaderError
	if !errors.As(cluster.FromStatus(st.Err()), &back) || *back != *nle {
		t.Fatalf("came back as %v, want %v", back, nle)
	}
	extra := cluster.NotLeaderStatus(nle, nle, map[string]string{cluster.LeaderGRPCAddrKey: "10.0.0.2:5680"})
	if !errors.As(cluster.FromStatus(extra.Err()), &back) || *back != *nle {
		t.Fatalf("with extra metadata came back as %v", back)
	}
}

// TestOtherStatusesPassThrough: a status the table does not know keeps its
// code, message and details; an error that is no status stays as it is.
func TestOtherStatusesPassThrough(t *testing.T) {
	exhausted := status.Error(codes.ResourceExhausted, "memory high watermark")
	if got := cluster.FromStatus(exhausted); got != exhausted {
		t.Errorf("RESOURCE_EXHAUSTED became %v", got)
	}
	plain := errors.New("connection refused")
	if got := cluster.FromStatus(plain); got != plain {
		t.Errorf("a plain error became %v", got)
	}
	if _, ok := cluster.Status(plain); ok {
		t.Errorf("a plain error has a status in the table")
	}
	if got := cluster.ErrorOf(codes.OK, "", ""); got != nil {
		t.Errorf("ErrorOf(OK) = %v", got)
	}
}
