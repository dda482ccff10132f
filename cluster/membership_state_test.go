package cluster

import (
	"slices"
	"testing"
)

// TestGossipStateRoundTrip: the push/pull state decodes to what was
// encoded, and malformed input is rejected rather than misread.
func TestGossipStateRoundTrip(t *testing.T) {
	for _, s := range []gossipState{
		{},
		{formed: true},
		{formed: true, voters: []string{"a", "node-b", "zone-c-node"}},
	} {
		got, ok := decodeGossipState(s.encode())
		if !ok || got.formed != s.formed || !slices.Equal(got.voters, s.voters) {
			t.Errorf("round trip of %+v: %+v, %t", s, got, ok)
		}
	}
	full := gossipState{formed: true, voters: []string{"n1", "n2"}}.encode()
	for _, bad := range [][]byte{nil, {gossipStateVersion}, {9, 0}, full[:len(full)-1], {gossipStateVersion, gossipFlagFormed, 200, 1}} {
		if _, ok := decodeGossipState(bad); ok {
			t.Errorf("decodeGossipState(%v) accepted", bad)
		}
	}
}

// TestPeersAgree covers the checks a node makes before bootstrapping.
func TestPeersAgree(t *testing.T) {
	m := &membership{peerVoters: map[string][]string{}}
	if !m.peersAgree([]string{"a", "b", "c"}) || m.inPeerCluster("a") {
		t.Fatal("no formed peer: must agree and list nobody")
	}
	m.MergeRemoteState(gossipState{formed: true, voters: []string{"a", "b", "c"}}.encode(), true)
	m.MergeRemoteState(gossipState{}.encode(), false)
	if !m.peerFormed.Load() || !m.peersAgree([]string{"a", "b", "c"}) || !m.inPeerCluster("c") {
		t.Fatal("a peer with the same voters must agree")
	}
	if m.peersAgree([]string{"a", "b", "d"}) || m.inPeerCluster("d") {
		t.Fatal("a peer with other voters must not agree")
	}
}
