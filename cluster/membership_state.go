package cluster

import (
	"encoding/binary"
	"slices"
	"strings"
)

// Push/pull state. memberlist exchanges it on every join and every
// PushPullInterval (LocalState, MergeRemoteState). A node says whether it
// has Raft state in every group and, if so, the voters its meta group was
// bootstrapped with (the configuration entry at index 1; none once a
// snapshot has compacted it). A node about to bootstrap can then tell the
// cluster it founds with its peers (a peer that bootstrapped first reports
// exactly the same founders, so bootstrapping too writes the identical
// entry 1, which is safe, and makes the founders independent of that peer)
// from a running cluster it did not found (it must wait to be added: its
// own entry 1 would differ from the cluster's).
//
// Encoding: version byte (gossipStateVersion), flags byte, then, when
// formed, uvarint count and count × (uvarint length, id bytes).

// gossipFlagFormed says the sender has Raft state in every group.
const gossipFlagFormed byte = 1

// maxGossipVoters bounds a decoded voter list.
const maxGossipVoters = 64

// gossipState is what a node tells its peers in push/pull.
type gossipState struct {
	// formed: every group has Raft state.
	formed bool
	// voters are the ids the meta group was bootstrapped with, sorted,
	// when formed and still known.
	voters []string
}

func (s gossipState) encode() []byte {
	var flags byte
	if s.formed {
		flags |= gossipFlagFormed
	}
	b := []byte{gossipStateVersion, flags}
	if !s.formed {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(s.voters)))
	for _, v := range s.voters {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// decodeGossipState parses a peer's state; ok is false for a malformed or
// unknown version.
func decodeGossipState(b []byte) (s gossipState, ok bool) {
	if len(b) < 2 || b[0] != gossipStateVersion {
		return s, false
	}
	s.formed = b[1]&gossipFlagFormed != 0
	if !s.formed {
		return s, true
	}
	b = b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxGossipVoters {
		return s, false
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return s, false
		}
		s.voters = append(s.voters, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	return s, true
}

// gossipState returns this node's push/pull state.
func (n *Node) gossipState() gossipState {
	if !n.formed() {
		return gossipState{}
	}
	return gossipState{formed: true, voters: n.meta.BootstrapVoters()}
}

// LocalState implements memberlist.Delegate.
func (m *membership) LocalState(bool) []byte { return m.state().encode() }

// MergeRemoteState implements memberlist.Delegate.
func (m *membership) MergeRemoteState(buf []byte, _ bool) {
	s, ok := decodeGossipState(buf)
	if !ok || !s.formed {
		return
	}
	m.mu.Lock()
	m.peerVoters[strings.Join(s.voters, "\x00")] = s.voters
	m.mu.Unlock()
	m.peerFormed.Store(true)
}

// peersAgree reports whether every formed peer heard from reported exactly
// voters as its meta group's founders (true when none is formed).
func (m *membership) peersAgree(voters []string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.peerVoters {
		if !slices.Equal(v, voters) {
			return false
		}
	}
	return true
}

// inPeerCluster reports whether a formed peer listed id as a founder.
func (m *membership) inPeerCluster(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.peerVoters {
		if slices.Contains(v, id) {
			return true
		}
	}
	return false
}
