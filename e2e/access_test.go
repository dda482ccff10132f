package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/certs"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startSecureNode starts an in-process node (real Raft on files, real gRPC
// on loopback) with authentication and authorization on, as warren-node
// runs by default.
func startSecureNode(t *testing.T) *transporttest.Node {
	t.Helper()
	return transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
}

// wantDenied fails unless err is PERMISSION_DENIED naming every fragment.
func wantDenied(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	wantCode(t, what, err, codes.PermissionDenied)
	for _, f := range fragments {
		if !strings.Contains(status.Convert(err).Message(), f) {
			t.Errorf("%s: message %q does not name %q", what, status.Convert(err).Message(), f)
		}
	}
}

func TestAccessAuthentication(t *testing.T) {
	n := startSecureNode(t)
	ctx := testCtx(t, 60*time.Second)
	guest := newClient(t, n.Addr) // the SDK's default login: guest/guest
	id, err := guest.WhoAmI(ctx)
	if err != nil || id.User != "guest" || id.VHost != "/" || len(id.Tags) != 1 || id.Tags[0] != access.TagAdministrator {
		t.Fatalf("guest WhoAmI = %+v, %v", id, err)
	}
	if err := guest.AddUser(ctx, "alice", "right", nil); err != nil {
		t.Fatal(err)
	}
	if err := guest.SetPermissions(ctx, client.Permission{User: "alice", VHost: "/", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	alice := newClient(t, n.Addr, client.WithCredentials("alice", "right"))
	if id, err := alice.WhoAmI(ctx); err != nil || id.User != "alice" {
		t.Fatalf("alice WhoAmI = %+v, %v", id, err)
	}

	// Wrong password and unknown user: UNAUTHENTICATED after the fixed
	// delay, the same answer for both.
	for _, creds := range [][2]string{{"alice", "wrong"}, {"mallory", "x"}} {
		c := newClient(t, n.Addr, client.WithCredentials(creds[0], creds[1]))
		start := time.Now()
		_, err := c.ListQueues(ctx)
		wantCode(t, creds[0]+" with a wrong password", err, codes.Unauthenticated)
		if took := time.Since(start); took < access.DefaultFailureDelay {
			t.Errorf("a failed login answered in %v, before the %v delay", took, access.DefaultFailureDelay)
		}
	}
	// A changed password takes effect at the next call of a connected
	// client.
	if err := guest.ChangePassword(ctx, "alice", "new"); err != nil {
		t.Fatal(err)
	}
	_, err = alice.WhoAmI(ctx)
	wantCode(t, "old password after the change", err, codes.Unauthenticated)

	// Repeated failures from one address are throttled: the burst is
	// answered, then RESOURCE_EXHAUSTED without checking the password.
	bad := newClient(t, n.Addr, client.WithCredentials("alice", "guess"))
	var last error
	for i := 0; i < access.DefaultFailureBurst+2; i++ {
		_, last = bad.WhoAmI(ctx)
		if status.Code(last) == codes.ResourceExhausted {
			break
		}
	}
	wantCode(t, "login after repeated failures", last, codes.ResourceExhausted)
}

func TestAccessPermissions(t *testing.T) {
	n := startSecureNode(t)
	ctx := testCtx(t, 60*time.Second)
	admin := newClient(t, n.Addr)
	for _, q := range []string{"app.jobs", "billing"} {
		declareQueue(t, admin, q, nil)
	}
	if err := admin.AddUser(ctx, "app", "pw", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "app", VHost: "/", Configure: `^app\.`, Write: `^(app\..*|amq\.default)$`, Read: `^app\.`}); err != nil {
		t.Fatal(err)
	}
	app := newClient(t, n.Addr, client.WithCredentials("app", "pw"))

	// Within its patterns app works; outside them it is refused, and the
	// refusal names the user, the resource and the permission.
	if _, err := app.DeclareQueue(ctx, "app.results", client.QueueOptions{}); err != nil {
		t.Fatalf("declare within configure: %v", err)
	}
	_, err := app.DeclareQueue(ctx, "other", client.QueueOptions{})
	wantDenied(t, "declare outside configure", err, `"app"`, "configure", `queue "other"`)
	_, err = app.DeleteQueue(ctx, "billing", client.DeleteQueueOptions{})
	wantDenied(t, "delete another's queue", err, "configure", `queue "billing"`)
	_, err = app.PurgeQueue(ctx, "billing")
	wantDenied(t, "purge without read", err, "read", `queue "billing"`)
	_, _, err = app.Get(ctx, "billing", client.GetOptions{})
	wantDenied(t, "get without read", err, "read", `queue "billing"`)
	err = app.Bind(ctx, "amq.topic", "app.jobs", "#", nil)
	wantDenied(t, "bind from an exchange without read", err, "read", `exchange "amq.topic"`)

	publish(t, app, "", "app.jobs", client.Message{Body: []byte("1")}, client.Confirmed)
	_, err = app.Publish(ctx, "amq.direct", "billing", client.Message{Body: []byte("x")})
	wantDenied(t, "publish without write", err, "write", `exchange "amq.direct"`)
	waitCounts(t, admin, "billing", 0, 0) // nothing enqueued by the refused publish

	// A consume stream is checked per subscription.
	err = app.Consume(ctx, "billing", func(context.Context, *client.Delivery) error { return nil }, client.ConsumeOptions{})
	wantDenied(t, "consume without read", err, "read", `queue "billing"`)
	sub := subscribe(t, app, "app.jobs", client.ConsumeOptions{Prefetch: 1})
	if d := recv(t, sub, scaled(5*time.Second)); string(d.Body) != "1" {
		t.Fatalf("got %q", d.Body)
	}

	// Administration needs the administrator tag; status needs monitoring.
	wantDenied(t, "add user", app.AddUser(ctx, "x", "y", nil), "administrator")
	_, err = app.RemoveNode(ctx, "node-x")
	wantDenied(t, "remove-node", err, "administrator")
	_, err = app.ClusterStatus(ctx)
	wantDenied(t, "cluster status", err, "monitoring")
	if err := admin.SetUserTags(ctx, "app", []string{access.TagMonitoring}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.ClusterStatus(ctx); err != nil {
		t.Errorf("cluster status as monitoring: %v", err)
	}

	// Revoking write takes effect at the connected client's next call.
	if err := admin.SetPermissions(ctx, client.Permission{User: "app", VHost: "/", Configure: `^app\.`, Read: `^app\.`}); err != nil {
		t.Fatal(err)
	}
	_, err = app.Publish(ctx, "", "app.jobs", client.Message{Body: []byte("2")})
	wantDenied(t, "publish after write was revoked", err, "write", `exchange ""`)

	// Without any permission in the vhost, even listing is refused.
	if err := admin.ClearPermissions(ctx, "app", "/"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetUserTags(ctx, "app", nil); err != nil {
		t.Fatal(err)
	}
	_, err = app.ListQueues(ctx)
	wantDenied(t, "list without access to the vhost", err, `virtual host "/"`)
}

func TestAccessVHosts(t *testing.T) {
	n := startSecureNode(t)
	ctx := testCtx(t, 60*time.Second)
	admin := newClient(t, n.Addr)
	if err := admin.AddVHost(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	if vs, err := admin.ListVHosts(ctx); err != nil || len(vs) != 2 || vs[0] != "/" || vs[1] != "staging" {
		t.Fatalf("vhosts %v, %v", vs, err)
	}
	none := newClient(t, n.Addr, client.WithVHost("nope"))
	_, err := none.ListQueues(ctx)
	wantCode(t, "unknown vhost", err, codes.NotFound)

	// A user with permissions in staging only works there.
	if err := admin.AddUser(ctx, "dev", "pw", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "dev", VHost: "staging", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	devRoot := newClient(t, n.Addr, client.WithCredentials("dev", "pw"))
	_, err = devRoot.ListQueues(ctx)
	wantDenied(t, "dev in /", err, `"dev"`, `virtual host "/"`)
	dev := newClient(t, n.Addr, client.WithVHost("staging"), client.WithCredentials("dev", "pw"))

	// Two vhosts, two queues of the same name, each with its own messages,
	// routed by each vhost's own default and amq.* exchanges.
	declareQueue(t, admin, "jobs", nil)
	declareQueue(t, dev, "jobs", nil)
	bind(t, dev, "amq.direct", "jobs", "k", nil)
	publish(t, admin, "", "jobs", client.Message{Body: []byte("root")}, client.Confirmed)
	publish(t, dev, "", "jobs", client.Message{Body: []byte("staging-1")}, client.Confirmed)
	publish(t, dev, "amq.direct", "k", client.Message{Body: []byte("staging-2")}, client.Confirmed)
	publish(t, admin, "amq.direct", "k", client.Message{Body: []byte("nowhere")}, client.Confirmed) // no binding in /
	if got := drainGets(t, admin, "jobs"); len(got) != 1 || got[0] != "root" {
		t.Errorf("/ jobs holds %q", got)
	}
	if got := drainGets(t, dev, "jobs"); len(got) != 2 || got[0] != "staging-1" || got[1] != "staging-2" {
		t.Errorf("staging jobs holds %q", got)
	}
	qs, err := dev.ListQueues(ctx)
	if err != nil || len(qs) != 1 || qs[0].Name != "jobs" {
		t.Errorf("staging lists %v, %v", qs, err)
	}

	// Per-vhost limits hold, and name the limit.
	one := int64(1)
	if err := admin.SetVHostLimits(ctx, "staging", client.VHostLimits{MaxQueues: &one}); err != nil {
		t.Fatal(err)
	}
	_, err = dev.DeclareQueue(ctx, "more", client.QueueOptions{})
	wantCode(t, "queue past max-queues", err, codes.ResourceExhausted)
	if err != nil && !strings.Contains(status.Convert(err).Message(), "max-queues") {
		t.Errorf("limit refusal does not name max-queues: %v", err)
	}

	// Deleting the vhost deletes its objects and permissions, not /'s.
	if err := admin.DeleteVHost(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	if _, err := queueInfo(ctx, admin, "jobs"); err != nil {
		t.Errorf("/ jobs after deleting staging: %v", err)
	}
	if err := admin.AddVHost(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "guest", VHost: "staging", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	again := newClient(t, n.Addr, client.WithVHost("staging"))
	if qs, err := again.ListQueues(ctx); err != nil || len(qs) != 0 {
		t.Errorf("a re-created staging holds %v, %v", qs, err)
	}
	if ps, err := admin.ListPermissions(ctx, "dev", ""); err != nil || len(ps) != 0 {
		t.Errorf("dev's permissions in the deleted vhost survived: %v %v", ps, err)
	}
}

// TestVHostThroughFollowers: in a 3-node cluster with access on, a client
// of a follower publishes to, gets from and consumes a queue of another
// vhost whose group another node leads: the proxied calls keep the vhost.
func TestVHostThroughFollowers(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{QueueGroups: 1, Access: &access.Options{}})
	ctx := testCtx(t, 60*time.Second)
	admin := newClient(t, nodes[0].Addr)
	if err := admin.AddVHost(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "guest", VHost: "v", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	var leader string
	eventually(t, 20*time.Second, "q0 has a leader", func() error {
		st, err := admin.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		for _, g := range st.Groups {
			if g.Name == "q0" && g.LeaderID != "" {
				leader = g.LeaderID
				return nil
			}
		}
		return fmt.Errorf("no leader of q0 yet")
	})
	var followers []string
	for i, n := range nodes {
		if fmt.Sprintf("node%d", i+1) != leader {
			followers = append(followers, n.Addr)
		}
	}
	prod := newClient(t, followers[0], client.WithVHost("v"))
	cons := newClient(t, followers[1], client.WithVHost("v"), client.WithoutDirectConsume())
	declareQueue(t, prod, "fw", nil)
	declareQueue(t, admin, "fw", nil) // the same name in /, which must stay empty
	waitQueueKnown(t, cons, "fw")
	for i := 0; i < 3; i++ {
		publish(t, prod, "", "fw", client.Message{Body: []byte(strconv.Itoa(i))}, client.Confirmed)
	}
	d, ok, err := cons.Get(ctx, "fw", client.GetOptions{})
	if err != nil || !ok || string(d.Body) != "0" {
		t.Fatalf("get through a follower in vhost v: %v %v %v", d, ok, err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("ack of a get through a follower: %v", err)
	}
	sub := subscribe(t, cons, "fw", client.ConsumeOptions{Prefetch: 10})
	for _, want := range []string{"1", "2"} {
		if d := recv(t, sub, scaled(10*time.Second)); string(d.Body) != want {
			t.Fatalf("consumed %q, want %q", d.Body, want)
		}
	}
	waitCounts(t, admin, "fw", 0, 0)
}

// TestGuestRefusedBeyondLoopback: on warren-node processes on hosts of
// their own (network namespaces), guest/guest from another host is refused, naming
// the loopback rule, while the administrator the node bootstrapped works
// from there.
func TestGuestRefusedBeyondLoopback(t *testing.T) {
	hosts := newLab(t, "guest", 4).Hosts()
	ch := hosts[3]
	nodes := startLabCluster(t, hosts[:3], ch) // --join never bootstraps one node alone
	ctx := testCtx(t, 30*time.Second)

	c, err := client.New(ctx, []string{nodes[0].grpcAddr}, labDialer(ch), client.WithConnectTimeout(2*time.Second))
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.ListQueues(ctx)
	}
	wantCode(t, "guest from "+ch.IP, err, codes.Unauthenticated)
	if err != nil && !strings.Contains(status.Convert(err).Message(), "loopback") {
		t.Errorf("refusal of guest does not name the loopback rule: %v", err)
	}
	raw := labRaw(t, ch, nodes[0].grpcAddr) // the bootstrapped administrator
	if _, err := raw.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "jobs"}); err != nil {
		t.Fatalf("administrator from %s: %v", ch.IP, err)
	}
}

// TestClientCertificateNamesTheUser: a warren-node process with
// --tls-client-ca authenticates a client by its certificate's common name
// (no password), holds it to that user's permissions, and lets a
// password login override the certificate's name.
func TestClientCertificateNamesTheUser(t *testing.T) {
	if nodeBinary == "" {
		t.Skip("no warren-node binary")
	}
	dir := t.TempDir()
	serverTLS := tlsFiles(t, dir, "n1")
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := func(user string) *tls.Config {
		certPEM, keyPEM, err := certs.NewCert(caPEM, caKey, certs.CertOptions{CommonName: user, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg := serverTLS.Clone()
		cfg.Certificates = []tls.Certificate{pair}
		return cfg
	}
	p := newClusterProc(t, "n1")
	p.clientOpts = []client.Option{client.WithTLS(clientTLS("guest"))}
	f := func(name string) string { return filepath.Join(dir, name) }
	p.extra = []string{"--tls-cert", f("n1.pem"), "--tls-key", f("n1-key.pem"), "--tls-client-ca", f("ca.pem")}
	launchCluster(t, []*nodeProc{p})

	ctx := testCtx(t, 30*time.Second)
	admin := newClient(t, p.grpcAddr, client.WithTLS(clientTLS("guest")))
	if id, err := admin.WhoAmI(ctx); err != nil || id.User != "guest" {
		t.Fatalf("certificate login as guest: %+v %v", id, err)
	}
	if err := admin.AddUser(ctx, "reader", "", nil); err != nil { // no password: certificate only
		t.Fatal(err)
	}
	if err := admin.SetPermissions(ctx, client.Permission{User: "reader", VHost: "/", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	declareQueue(t, admin, "reports", nil)
	reader := newClient(t, p.grpcAddr, client.WithTLS(clientTLS("reader")))
	if id, err := reader.WhoAmI(ctx); err != nil || id.User != "reader" {
		t.Fatalf("certificate login as reader: %+v %v", id, err)
	}
	if _, _, err := reader.Get(ctx, "reports", client.GetOptions{}); err != nil {
		t.Errorf("reader get: %v", err)
	}
	_, err = reader.DeclareQueue(ctx, "mine", client.QueueOptions{})
	wantDenied(t, "reader declare", err, `"reader"`, "configure")
	// A certificate of a user that does not exist logs in as no one.
	ghost := newClient(t, p.grpcAddr, client.WithTLS(clientTLS("ghost")))
	_, err = ghost.WhoAmI(ctx)
	wantCode(t, "certificate of an unknown user", err, codes.Unauthenticated)
	// A password login on top of a certificate is the password's user.
	both := newClient(t, p.grpcAddr, client.WithTLS(clientTLS("reader")), client.WithCredentials("guest", "guest"))
	if id, err := both.WhoAmI(ctx); err != nil || id.User != "guest" {
		t.Errorf("password over a certificate: %+v %v", id, err)
	}
}
