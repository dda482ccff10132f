package e2e_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/cluster"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestGossipKeyRotationUnderLoad: three warren-node processes whose gossip
// is encrypted with an old key rotate to a new one (install, use, remove,
// through one node) while a producer publishes with confirms and a
// consumer acks. A member that does not answer makes a keyring call fail,
// naming it. After the rotation the three are still alive members and
// voters of every group, each has persisted the new keyring, and a fourth
// node that has only the old key cannot join; a member killed and started
// again with its old --gossip-key-file rejoins, because its persisted
// keyring takes precedence. Every confirmed message is consumed.
func TestGossipKeyRotationUnderLoad(t *testing.T) {
	slow(t)
	if nodeBinary == "" {
		t.Skip("no warren-node binary")
	}
	dir := t.TempDir()
	oldKey, newKey := writeGossipKey(t, dir, "old.key"), writeGossipKey(t, dir, "new.key")
	ids := []string{"n1", "n2", "n3"}
	procs := make([]*nodeProc, len(ids))
	var join []string
	for i, id := range ids {
		procs[i] = newClusterProc(t, id)
		join = append(join, procs[i].gossipAddr)
	}
	for i, p := range procs {
		p.extra = []string{"--bootstrap-expect", "3", "--join", strings.Join(join, ","), "--zone", strconv.Itoa(i),
			"--gossip-key-file", filepath.Join(dir, "old.key")}
	}
	launchCluster(t, procs)
	admin := newClientAddrs(t, procAddrs(procs))
	declareQueue(t, admin, "rotation", nil)
	waitHealthy(t, admin, ids, 50)
	l := startLoad(t, procAddrs(procs), "rotation", 10*time.Millisecond, 100000)
	l.waitProgress(50, "before the rotation")

	keys := newClient(t, procs[0].grpcAddr) // every keyring call goes through n1
	ring, err := keys.ListGossipKeys(testCtx(t, 30*time.Second))
	wantKeyring(t, "list", ring, err, oldKey, client.GossipKey{Key: oldKey, Members: 3, PrimaryMembers: 3})

	// A member that is alive to gossip but does not answer (SIGSTOP) fails
	// the call, which names it.
	if err := procs[2].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, err = keys.ListGossipKeys(testCtx(t, 30*time.Second))
	if err := procs[2].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "1 of 3 running members did not answer; n3: ") {
		t.Fatalf("list with n3 stopped: %v; want UNAVAILABLE naming n3", err)
	}
	t.Logf("with n3 stopped: %v", err)
	waitHealthy(t, admin, ids, 50)
	l.waitProgress(20, "after n3 was resumed")

	ring, err = keys.InstallGossipKey(testCtx(t, 30*time.Second), newKey)
	wantKeyring(t, "install", ring, err, oldKey,
		client.GossipKey{Key: oldKey, Members: 3, PrimaryMembers: 3}, client.GossipKey{Key: newKey, Members: 3})
	l.waitProgress(20, "after install")
	ring, err = keys.UseGossipKey(testCtx(t, 30*time.Second), newKey)
	wantKeyring(t, "use", ring, err, newKey,
		client.GossipKey{Key: newKey, Members: 3, PrimaryMembers: 3}, client.GossipKey{Key: oldKey, Members: 3})
	l.waitProgress(20, "after use")
	ring, err = keys.RemoveGossipKey(testCtx(t, 30*time.Second), oldKey)
	wantKeyring(t, "remove", ring, err, newKey, client.GossipKey{Key: newKey, Members: 3, PrimaryMembers: 3})
	l.waitProgress(20, "after remove")

	// No member lost: the three are alive and voters of every group.
	waitHealthy(t, admin, ids, 50)
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join(p.dataDir, cluster.GossipKeyringFile))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), newKey) || strings.Contains(string(b), oldKey) {
			t.Fatalf("%s persisted another keyring than the new key alone", p.id)
		}
		if strings.Contains(p.log(), newKey) || strings.Contains(p.log(), oldKey) {
			t.Fatalf("%s logged key material", p.id)
		}
	}

	// A new node with only the old key: the members cannot decrypt its
	// gossip, it never becomes a member.
	logged := make([]int, len(procs))
	for i, p := range procs {
		logged[i] = len(p.log())
	}
	n4 := newClusterProc(t, "n4")
	n4.extra = []string{"--join", strings.Join(join, ","), "--zone", "0", "--gossip-key-file", filepath.Join(dir, "old.key")}
	if err := n4.launch(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "n4 refused by the members", func() error {
		if !strings.Contains(n4.log(), "no join address answered") {
			return errors.New("n4 has not failed to join yet")
		}
		for i, p := range procs {
			if strings.Contains(p.log()[logged[i]:], "no installed keys could decrypt the message") {
				return nil
			}
		}
		return errors.New("no member has refused n4's gossip yet")
	})
	st, err := admin.ClusterStatus(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.ID == "n4" {
			t.Fatalf("n4 joined with the removed key: %+v", m)
		}
	}
	n4.kill()

	// A member killed and started again with its old --gossip-key-file
	// rejoins: its persisted keyring (the new key) takes precedence.
	victim := procs[1]
	victim.kill()
	l.waitProgress(20, "while "+victim.id+" is down")
	victim.restart()
	if !strings.Contains(victim.log(), "the configured key is not in it and is ignored") {
		t.Fatalf("%s did not log that its persisted keyring took precedence", victim.id)
	}
	waitHealthy(t, admin, ids, 50)
	ring, err = keys.ListGossipKeys(testCtx(t, 30*time.Second))
	wantKeyring(t, "list after the restart", ring, err, newKey, client.GossipKey{Key: newKey, Members: 3, PrimaryMembers: 3})
	l.waitProgress(20, "after "+victim.id+" rejoined")
	l.finish()
	waitHealthy(t, admin, ids, 50)
}

// writeGossipKey writes a new random 32-byte key, base64, into dir/name
// and returns it.
func writeGossipKey(t *testing.T, dir, name string) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(raw)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// wantKeyring fails unless a keyring call succeeded with the three members
// reporting primary and keys, in order.
func wantKeyring(t *testing.T, what string, ring client.GossipKeyring, err error, primary string, keys ...client.GossipKey) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if ring.Members != 3 || ring.Primary != primary || fmt.Sprint(ring.Keys) != fmt.Sprint(keys) {
		t.Fatalf("%s: %d members, primary %q, keys %v; want 3, %q, %v", what, ring.Members, ring.Primary, ring.Keys, primary, keys)
	}
}
