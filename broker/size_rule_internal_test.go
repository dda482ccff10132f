package broker

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/cluster"
)

// The size rule waits for every server of the group, voter or not, to
// gossip an FSM version that knows it.
func TestServersAtVersion(t *testing.T) {
	servers := func(ids ...string) []raft.Server {
		var out []raft.Server
		for i, id := range ids {
			s := raft.Server{ID: raft.ServerID(id), Suffrage: raft.Voter}
			if i == len(ids)-1 && len(ids) > 2 {
				s.Suffrage = raft.Nonvoter
			}
			out = append(out, s)
		}
		return out
	}
	members := []cluster.Member{{ID: "a", FSMVersion: 2}, {ID: "b", FSMVersion: 3}, {ID: "c", FSMVersion: 1}, {ID: "d", FSMVersion: 2}}
	tests := []struct {
		name    string
		servers []raft.Server
		want    bool
	}{
		{"all at 2 or later", servers("a", "b"), true},
		{"a voter at 1", servers("a", "c"), false},
		{"a non-voter at 1", servers("a", "b", "c"), false},
		{"a server gossip does not know", servers("a", "x"), false},
		{"no configuration yet", nil, false},
		{"non-voter at 2", servers("b", "a", "d"), true},
	}
	for _, tt := range tests {
		if got := serversAtVersion(tt.servers, members, sizeRuleVersion); got != tt.want {
			t.Errorf("%s: %t, want %t", tt.name, got, tt.want)
		}
	}
	if cluster.FSMVersion < sizeRuleVersion {
		t.Fatalf("this build gossips FSM version %d but proposes a rule of version %d", cluster.FSMVersion, sizeRuleVersion)
	}
}
