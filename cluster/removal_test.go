package cluster

import (
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/warrenmq/warren/fsm"
)

func voters(ids ...string) []raft.Server {
	var out []raft.Server
	for _, id := range ids {
		out = append(out, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":1"), Suffrage: raft.Voter})
	}
	return out
}

func TestCheckRemoval(t *testing.T) {
	nonvoter := raft.Server{ID: "n6", Suffrage: raft.Nonvoter}
	cases := []struct {
		name    string
		servers []raft.Server
		remove  string
		dead    []string
		ok      bool
	}{
		{"dead one of three", voters("a", "b", "c"), "c", []string{"c"}, true},
		{"alive one of three, all alive", voters("a", "b", "c"), "c", nil, true},
		{"alive one of three, another dead", voters("a", "b", "c"), "c", []string{"b"}, false},
		{"dead one of five, another dead", voters("a", "b", "c", "d", "e"), "e", []string{"d", "e"}, true},
		{"one of five, two others dead", voters("a", "b", "c", "d", "e"), "e", []string{"c", "d"}, false},
		{"last voter", voters("a"), "a", nil, false},
		{"one of two", voters("a", "b"), "b", []string{"b"}, true},
		{"non-voter", append(voters("a", "b", "c"), nonvoter), "n6", []string{"b"}, true},
		{"not a member", voters("a", "b", "c"), "x", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alive := func(id string) bool { return !slices.Contains(c.dead, id) }
			err := checkRemoval("q0", c.servers, c.remove, alive)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && !errors.Is(err, fsm.ErrPrecondition) {
				t.Fatalf("got %v, want a precondition error", err)
			}
		})
	}
}

// TestVoterCandidatesSpreadZones: with voter seats left, members of zones
// that have no voter yet come before members of zones that have one.
func TestVoterCandidatesSpreadZones(t *testing.T) {
	byID := map[raft.ServerID]raft.Server{}
	for _, s := range voters("a1", "a2", "b1") {
		byID[s.ID] = s
	}
	alive := []Member{
		{ID: "a1", Zone: "a"}, {ID: "a2", Zone: "a"}, {ID: "a3", Zone: "a"},
		{ID: "b1", Zone: "b"}, {ID: "b2", Zone: "b"}, {ID: "c1", Zone: "c"},
	}
	got := voterCandidates(alive, byID, map[string]int{"a": 2, "b": 1})
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
	}
	want := []string{"a1", "a2", "b1", "c1", "b2", "a3"}
	if !slices.Equal(ids, want) {
		t.Fatalf("order %v, want %v", ids, want)
	}
}
