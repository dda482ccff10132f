package transport_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// TestGossipKeyRotation: on three in-process nodes with an encrypted
// gossip, GossipKey through one node lists, installs, uses and removes keys
// on every member; bad input is INVALID_ARGUMENT naming the problem; a USE
// or REMOVE that some member would refuse is FAILED_PRECONDITION naming the
// members, and changes nothing. Afterwards each node's persisted keyring
// holds only the new key, and a node given only the new key joins.
func TestGossipKeyRotation(t *testing.T) {
	oldKey, newKey := randomKey(t, 32), randomKey(t, 16)
	oldB64, newB64 := base64.StdEncoding.EncodeToString(oldKey), base64.StdEncoding.EncodeToString(newKey)
	opts := transporttest.Options{QueueGroups: 2, GossipKey: oldKey}
	nodes := transporttest.StartCluster(t, 3, opts)
	api := nodes[1].Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*transporttest.TimeoutScale())
	defer cancel()
	call := func(op pb.GossipKeyOp, key string) (*pb.GossipKeyResponse, error) {
		return api.GossipKey(ctx, &pb.GossipKeyRequest{Op: op, Key: key})
	}
	const (
		list    = pb.GossipKeyOp_GOSSIP_KEY_OP_LIST
		install = pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL
		use     = pb.GossipKeyOp_GOSSIP_KEY_OP_USE
		remove  = pb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE
	)
	// want checks a response: the keys (base64) with their holders and
	// primary users, in order.
	want := func(what string, r *pb.GossipKeyResponse, err error, primary string, keys ...*pb.GossipKeyHolders) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		same := len(r.GetKeys()) == len(keys)
		for i := 0; same && i < len(keys); i++ {
			same = proto.Equal(r.GetKeys()[i], keys[i])
		}
		if r.GetMembers() != 3 || r.GetPrimary() != primary || !same {
			t.Fatalf("%s: members %d, primary %q, keys %v; want 3, %q, %v", what, r.GetMembers(), r.GetPrimary(), r.GetKeys(), primary, keys)
		}
	}
	holders := func(key string, members, primary uint32) *pb.GossipKeyHolders {
		return &pb.GossipKeyHolders{Key: key, Members: members, PrimaryMembers: primary}
	}

	r, err := call(list, "")
	want("list", r, err, oldB64, holders(oldB64, 3, 3))

	for _, bad := range []struct {
		op        pb.GossipKeyOp
		key, says string
	}{
		{install, base64.StdEncoding.EncodeToString(randomKey(t, 12)), "12 bytes; a gossip key is 16, 24 or 32 bytes"},
		{install, "not a key", "not standard base64"},
		{use, "", "no key given"},
		{pb.GossipKeyOp_GOSSIP_KEY_OP_UNSPECIFIED, newB64, "op: give LIST, INSTALL, USE or REMOVE"},
		{list, newB64, "LIST takes no key"},
	} {
		_, err := call(bad.op, bad.key)
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), bad.says) || (bad.key != "" && strings.Contains(st.Message(), bad.key)) {
			t.Fatalf("%v %q: %v; want INVALID_ARGUMENT saying %q and not repeating the key", bad.op, bad.key, err, bad.says)
		}
	}

	// Refused on every member before anything changes.
	_, err = call(use, newB64)
	wantRefused(t, "use of a key no member holds", err, "not installed")
	r, err = call(install, newB64)
	want("install", r, err, oldB64, holders(oldB64, 3, 3), holders(newB64, 3, 0))
	_, err = call(remove, oldB64)
	wantRefused(t, "remove of the primary", err, "is the primary key")
	r, err = call(use, newB64)
	want("use", r, err, newB64, holders(newB64, 3, 3), holders(oldB64, 3, 0))
	r, err = call(remove, oldB64)
	want("remove", r, err, newB64, holders(newB64, 3, 3))
	r, err = call(remove, oldB64) // idempotent
	want("remove again", r, err, newB64, holders(newB64, 3, 3))
	r, err = nodes[2].Dial(t).GossipKey(ctx, &pb.GossipKeyRequest{Op: list})
	want("list through another node", r, err, newB64, holders(newB64, 3, 3))

	for _, n := range nodes {
		b, err := os.ReadFile(filepath.Join(n.DataDir, cluster.GossipKeyringFile))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), newB64) || strings.Contains(string(b), oldB64) {
			t.Fatalf("%s persisted %s; want the new key only", n.Broker.Node().NodeID(), b)
		}
	}

	// The cluster now gossips with the new key: a node that has only it
	// joins (Start returns once the cluster's leaders have added it).
	o4 := opts
	o4.NodeID, o4.GossipKey, o4.Join = "node4", newKey, []string{nodes[0].Broker.Node().GossipAddr()}
	n4 := transporttest.Start(t, o4)
	for _, m := range n4.Broker.Node().Members() {
		if m.State != cluster.MemberAlive {
			t.Fatalf("node4 sees %s %s", m.ID, m.State)
		}
	}
}

// wantRefused checks a GossipKey refused by the check that precedes any
// change: FAILED_PRECONDITION naming every member and the problem.
func wantRefused(t *testing.T, what string, err error, says string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), says) || !strings.Contains(st.Message(), "nothing was changed") {
		t.Fatalf("%s: %v; want FAILED_PRECONDITION saying %q and that nothing was changed", what, err, says)
	}
	if !strings.Contains(st.Message(), "node1, node2, node3: ") {
		t.Fatalf("%s: %q does not name the members", what, st.Message())
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == cluster.ReasonGossipKeyNotApplied &&
			info.GetMetadata()["failed_members"] == "node1,node2,node3" {
			return
		}
	}
	t.Fatalf("%s: no ErrorInfo naming the failed members in %v", what, st.Details())
}

func randomKey(t *testing.T, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestGossipKeyWithoutEncryption: a node started without a gossip key has
// no keyring to change; every operation says so.
func TestGossipKeyWithoutEncryption(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{QueueGroups: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*transporttest.TimeoutScale())
	defer cancel()
	_, err := n.Dial(t).GossipKey(ctx, &pb.GossipKeyRequest{Op: pb.GossipKeyOp_GOSSIP_KEY_OP_LIST})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "without a gossip key") {
		t.Fatalf("list without encryption: %v", err)
	}
}
