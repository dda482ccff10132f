package broker_test

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/certs"
)

// testCA makes a CA and, on demand, node identities signed by it.
type testCA struct {
	t             *testing.T
	cert, key     []byte
	dir, nameHint string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	cert, key, err := certs.NewCA(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{t: t, cert: cert, key: key, dir: t.TempDir(), nameHint: name}
	if err := os.WriteFile(filepath.Join(ca.dir, "ca.pem"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// nodeTLS returns the mutual TLS of node id, with a certificate this CA
// signed, trusting trust's CA.
func (ca *testCA) nodeTLS(id string, trust *testCA) *certs.Identity {
	t := ca.t
	t.Helper()
	cert, key, err := certs.NewCert(ca.cert, ca.key, certs.CertOptions{NodeID: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	f := certs.Files{CA: filepath.Join(trust.dir, "ca.pem"), Cert: filepath.Join(ca.dir, id+".pem"), Key: filepath.Join(ca.dir, id+"-key.pem")}
	if err := os.WriteFile(f.Cert, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Key, key, 0o600); err != nil {
		t.Fatal(err)
	}
	ident, err := certs.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return ident
}

// TestClusterOverMutualTLSAndGossipKey: three nodes form a cluster whose
// cluster port runs mutual TLS and whose gossip is encrypted, and
// replicate. A node with the gossip key but a certificate of another CA
// joins gossip yet is never made a server of any group (the cluster keeps
// its voters); a node with a good certificate but no gossip key cannot
// join gossip at all.
func TestClusterOverMutualTLSAndGossipKey(t *testing.T) {
	slow(t)
	const k = 2
	ca, other := newTestCA(t, "warren test CA"), newTestCA(t, "another CA")
	gossipKey := make([]byte, 32)
	_, _ = rand.Read(gossipKey)
	logs := &lockedBuffer{}
	secure := func(id string, signer *testCA, key []byte, join []string) broker.Config {
		cfg := nodeConfig(t, id, k, 3, join)
		cfg.Cluster.TLS = signer.nodeTLS(id, ca).MutualConfig()
		cfg.Cluster.GossipKey = key
		cfg.Cluster.Logger = hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Info, Output: logs})
		return cfg
	}
	t.Cleanup(func() { waitProbesDone(t) })
	nodes := make([]*testNode, 3)
	for i := range nodes {
		var join []string
		if i > 0 {
			join = []string{nodes[0].node.GossipAddr()}
		}
		nodes[i] = startTestNode(t, secure(fmt.Sprintf("n%d", i+1), ca, gossipKey, join))
	}
	for _, n := range nodes {
		waitReady(t, n)
	}
	ids := []string{"n1", "n2", "n3"}
	waitUntil(t, 15*time.Second, "every group with n1, n2, n3 as voters", func() error {
		_, err := checkGroups(nodes, ids)
		return err
	})
	declareQueue(t, nodes, "over-tls")
	waitQueueEverywhere(t, nodes, "over-tls")

	intruder := startTestNode(t, secure("n4", other, gossipKey, []string{nodes[0].node.GossipAddr()}))
	waitUntil(t, 15*time.Second, "n4 in gossip and refused by a group leader", func() error {
		return logLine(logs, "not adding a member whose cluster port does not prove it is that node", "member=n4")
	})
	if _, err := checkGroups(nodes, ids); err != nil {
		t.Fatalf("after n4 was refused: %v", err)
	}
	intruder.stop(t)

	keyless := startTestNode(t, secure("n5", ca, nil, []string{nodes[0].node.GossipAddr()}))
	waitUntil(t, 15*time.Second, "n5 failing to join gossip", func() error {
		return logLine(logs, "n5", "no join address answered")
	})
	for _, m := range nodes[0].node.Members() {
		if m.ID == "n5" {
			t.Fatalf("n5 joined gossip without the key: %+v", m)
		}
	}
	if got := len(keyless.node.Members()); got != 1 {
		t.Fatalf("n5 sees %d members without the gossip key", got)
	}
	if _, err := checkGroups(nodes, ids); err != nil {
		t.Fatalf("after n5 tried to join: %v", err)
	}
}

// logLine returns nil once one line of logs contains every part.
func logLine(logs *lockedBuffer, parts ...string) error {
	for _, line := range strings.Split(logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return nil
		}
	}
	return fmt.Errorf("no log line with %q yet", parts)
}
