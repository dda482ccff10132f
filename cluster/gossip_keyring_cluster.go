package cluster

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// A keyring operation on the whole cluster, as Consul's `consul keyring`
// does it: the node a client asks applies it on itself and, over the peer
// connections (NodeService.LocalGossipKey), on every running member, and it
// succeeds only when every one of them applied it.

// gossipKeyCallTimeout bounds one member's keyring call.
const gossipKeyCallTimeout = 5 * time.Second

// GossipKeyCount is one key and how many members hold it.
type GossipKeyCount struct {
	Key []byte
	// Members is how many members hold the key; Primary how many of them
	// encrypt with it.
	Members, Primary int
}

// GossipKeyReport is the cluster's keyring as the running members reported
// it after an operation.
type GossipKeyReport struct {
	// Members is how many running members answered, this node included.
	Members int
	// Keys lists every key a member holds: the most used primary first,
	// then by how many members hold it (ties by the key's bytes, so the
	// order is stable).
	Keys []GossipKeyCount
}

// Primary returns the key every member that answered encrypts with, or nil
// when they differ.
func (r GossipKeyReport) Primary() []byte {
	for _, k := range r.Keys {
		if r.Members > 0 && k.Primary == r.Members {
			return k.Key
		}
	}
	return nil
}

// GossipKeyError reports a keyring operation that not every running member
// carried out. Members that did carry it out keep it: every operation is
// idempotent, so the caller runs it again once the failed members are back
// (or gone from gossip). Its status (Status) names the failed members.
type GossipKeyError struct {
	Op GossipKeyOp
	// Members is how many running members were asked, this node included.
	Members int
	// Failed holds the error of each member that did not carry out the
	// operation, by node id.
	Failed map[string]error
	// Checked is set when the check that precedes USE and REMOVE failed (a
	// member lacks the key, uses it as its primary, or did not answer): then
	// nothing was changed on any member.
	Checked bool
}

// Error names every failed member with its error (members that failed
// alike together); keys never appear.
func (e *GossipKeyError) Error() string {
	var b strings.Builder
	switch {
	case e.Checked:
		fmt.Fprintf(&b, "gossip key %s refused after checking the %d running members; nothing was changed", e.Op, e.Members)
	case e.Op == GossipKeyList:
		fmt.Fprintf(&b, "gossip key list: %d of %d running members did not answer", len(e.Failed), e.Members)
	default:
		fmt.Fprintf(&b, "gossip key %s not applied by %d of %d running members (the others applied it; run it again)", e.Op, len(e.Failed), e.Members)
	}
	var msgs []string
	ids := map[string][]string{}
	for _, id := range e.FailedIDs() {
		msg := e.Failed[id].Error()
		if ids[msg] == nil {
			msgs = append(msgs, msg)
		}
		ids[msg] = append(ids[msg], id)
	}
	for _, msg := range msgs {
		fmt.Fprintf(&b, "; %s: %s", strings.Join(ids[msg], ", "), msg)
	}
	return b.String()
}

// FailedIDs returns the ids of the failed members, sorted.
func (e *GossipKeyError) FailedIDs() []string { return slices.Sorted(maps.Keys(e.Failed)) }

// code is the error's status code: a member's refusal (INVALID_ARGUMENT,
// FAILED_PRECONDITION; a member whose build lacks the operation counts as
// FAILED_PRECONDITION) when there is one, else UNAVAILABLE: the failed
// members did not answer, or failed on their side, and a retry may succeed.
func (e *GossipKeyError) code() codes.Code {
	for _, id := range e.FailedIDs() {
		c := codes.Unavailable
		if st, ok := Status(e.Failed[id]); ok {
			c = st.Code()
		} else if st, ok := status.FromError(e.Failed[id]); ok {
			c = st.Code()
		}
		switch c {
		case codes.InvalidArgument, codes.FailedPrecondition:
			return c
		case codes.Unimplemented:
			return codes.FailedPrecondition
		}
	}
	return codes.Unavailable
}

// Apply applies op on every running member — this node and the peers that
// gossip shows alive or leaving — in parallel, each member's call bounded by
// gossipKeyCallTimeout and ctx, and returns the keyrings they reported
// afterwards. USE and REMOVE are checked on every member first (the key must
// be installed everywhere; no member may encrypt with the key to remove),
// and a refused check changes nothing. Apply fails with a *GossipKeyError
// unless every running member applied op. Members that gossip shows dead or
// left are not asked: one that comes back holding only removed keys cannot
// rejoin until it is given a current key.
func (k *GossipKeyring) Apply(ctx context.Context, op GossipKeyOp, key []byte) (GossipKeyReport, error) {
	switch op {
	case GossipKeyList:
		if len(key) > 0 {
			return GossipKeyReport{}, fmt.Errorf("%w: list takes no key", ErrGossipKeyInvalid)
		}
	case GossipKeyInstall, GossipKeyUse, GossipKeyRemove:
		if err := checkGossipKey(key); err != nil {
			return GossipKeyReport{}, err
		}
	default:
		return GossipKeyReport{}, fmt.Errorf("%w: unknown keyring %v", ErrGossipKeyInvalid, op)
	}
	// A member without encryption means a cluster without it: nothing to
	// ask the others.
	if _, err := k.List(); err != nil {
		return GossipKeyReport{}, err
	}
	peers := k.node.RunningPeers()
	if op == GossipKeyUse || op == GossipKeyRemove {
		if err := k.check(ctx, peers, op, key); err != nil {
			return GossipKeyReport{}, err
		}
	}
	keyrings, failed := k.everywhere(ctx, peers, op, key)
	report := summarize(keyrings)
	if len(failed) > 0 {
		return report, &GossipKeyError{Op: op, Members: 1 + len(peers), Failed: failed}
	}
	return report, nil
}

// check lists every member's keys and refuses USE of a key some member
// lacks, and REMOVE of a key some member encrypts with, before any member
// changes: a USE that only some members carried out would leave the others
// unable to read them.
func (k *GossipKeyring) check(ctx context.Context, peers []Member, op GossipKeyOp, key []byte) error {
	keyrings, failed := k.everywhere(ctx, peers, GossipKeyList, nil)
	for id, kr := range keyrings {
		switch i := indexKey(kr.Keys, key); {
		case op == GossipKeyUse && i < 0:
			failed[id] = fmt.Errorf("%w: install it on every member first", ErrGossipKeyNotInstalled)
		case op == GossipKeyRemove && i == 0:
			failed[id] = fmt.Errorf("%w: make another key the primary of every member first (use)", ErrGossipKeyPrimary)
		}
	}
	if len(failed) > 0 {
		return &GossipKeyError{Op: op, Members: 1 + len(peers), Failed: failed, Checked: true}
	}
	return nil
}

// everywhere applies op on this node and on peers, in parallel, and returns
// the keyrings of the members that applied it and the errors of the others.
func (k *GossipKeyring) everywhere(ctx context.Context, peers []Member, op GossipKeyOp, key []byte) (map[string]NodeGossipKeys, map[string]error) {
	keyrings, failed := map[string]NodeGossipKeys{}, map[string]error{}
	var mu sync.Mutex
	record := func(id string, kr NodeGossipKeys, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed[id] = err
			return
		}
		keyrings[id] = kr
	}
	var wg sync.WaitGroup
	for _, m := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kr, err := k.callMember(ctx, m, op, key)
			record(m.ID, kr, err)
		}()
	}
	kr, err := k.ApplyLocal(op, key)
	record(k.nodeID, kr, err)
	wg.Wait()
	return keyrings, failed
}

// callMember applies op on member m through its NodeService.
func (k *GossipKeyring) callMember(ctx context.Context, m Member, op GossipKeyOp, key []byte) (NodeGossipKeys, error) {
	conn, err := k.node.PeerConn(m)
	if err != nil {
		return NodeGossipKeys{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, gossipKeyCallTimeout)
	defer cancel()
	r, err := pb.NewNodeServiceClient(conn).LocalGossipKey(cctx, &pb.LocalGossipKeyRequest{Op: pb.GossipKeyOp(op), Key: key})
	if err != nil {
		return NodeGossipKeys{}, FromStatus(err)
	}
	if r.GetNodeId() != m.ID {
		return NodeGossipKeys{}, fmt.Errorf("%s answered as %s", m.ID, r.GetNodeId())
	}
	return NodeGossipKeys{NodeID: m.ID, Keys: r.GetKeys()}, nil
}

// summarize counts, for every key, the members that hold it and that
// encrypt with it.
func summarize(keyrings map[string]NodeGossipKeys) GossipKeyReport {
	r := GossipKeyReport{Members: len(keyrings)}
	at := map[string]int{}
	for _, kr := range keyrings {
		for i, key := range kr.Keys {
			j, ok := at[string(key)]
			if !ok {
				j = len(r.Keys)
				at[string(key)] = j
				r.Keys = append(r.Keys, GossipKeyCount{Key: key})
			}
			r.Keys[j].Members++
			if i == 0 {
				r.Keys[j].Primary++
			}
		}
	}
	slices.SortFunc(r.Keys, func(a, b GossipKeyCount) int {
		return cmp.Or(cmp.Compare(b.Primary, a.Primary), cmp.Compare(b.Members, a.Members), bytes.Compare(a.Key, b.Key))
	})
	return r
}
