package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
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
	ctx := testCtx(t, 30*time.Second)
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
	// Objects live in "/" only so far: another vhost is refused, named,
	// rather than silently sharing "/"'s objects.
	staging := newClient(t, n.Addr, client.WithVHost("staging"))
	_, err = staging.ListQueues(ctx)
	wantCode(t, "objects in another vhost", err, codes.Unimplemented)
	if err := admin.AddUser(ctx, "dev", "pw", nil); err != nil {
		t.Fatal(err)
	}
	dev := newClient(t, n.Addr, client.WithVHost("staging"), client.WithCredentials("dev", "pw"))
	_, err = dev.ListQueues(ctx)
	wantDenied(t, "vhost without permissions", err, `"dev"`, `virtual host "staging"`)
	if err := admin.DeleteVHost(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
}
