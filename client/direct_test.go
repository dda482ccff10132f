package client

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLeaderRedirectFromNotLeader: the leader's gRPC address and the meta
// index are read from a NOT_LEADER answer's ErrorInfo metadata, whatever
// else the map holds, and from nothing else.
func TestLeaderRedirectFromNotLeader(t *testing.T) {
	md := map[string]string{"group": "q1", "leader_id": "b", "leader_addr": "10.0.0.2:5681", "leader_grpc_addr": "10.0.0.2:5680", "meta_index": "42"}
	if got, ok := leaderRedirect(warrenUnavailable(t, "NOT_LEADER", md)); !ok || got != (redirect{addr: "10.0.0.2:5680", metaIndex: 42}) {
		t.Errorf("got %+v, %t; want 10.0.0.2:5680 at meta index 42", got, ok)
	}
	delete(md, "meta_index")
	if got, ok := leaderRedirect(warrenUnavailable(t, "NOT_LEADER", md)); !ok || got != (redirect{addr: "10.0.0.2:5680"}) {
		t.Errorf("without meta_index: got %+v, %t", got, ok)
	}
	delete(md, "leader_grpc_addr")
	cases := map[string]error{
		"no address":     warrenUnavailable(t, "NOT_LEADER", md),
		"another reason": warrenUnavailable(t, "OUTCOME_UNKNOWN", map[string]string{"leader_grpc_addr": "x:1"}),
		"no ErrorInfo":   status.Error(codes.Unavailable, "no leader"),
		"not a status":   errors.New("boom"),
		"nil":            nil,
		"another code":   status.Error(codes.NotFound, "no queue"),
	}
	for name, err := range cases {
		if got, ok := leaderRedirect(err); ok || got != (redirect{}) {
			t.Errorf("%s: got %+v, %t", name, got, ok)
		}
	}
	if got := errorInfoMetadata([]byte{0x1a, 0x09, 0x0a}, "k"); got != "" {
		t.Errorf("truncated metadata read as %q", got)
	}
}
