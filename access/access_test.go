package access

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/internal/password"
)

// directory is a fixed Directory (this package's unit tests only; the
// e2e tests use the broker's replicated one).
type directory struct {
	users map[string]fsm.User
	perms map[[2]string]fsm.Permission
}

func (d directory) UserRecord(n string) (fsm.User, bool) { u, ok := d.users[n]; return u, ok }
func (d directory) PermissionOf(u, v string) (fsm.Permission, bool) {
	p, ok := d.perms[[2]string{u, v}]
	return p, ok
}
func (d directory) HasVHost(v string) bool  { return v == "/" }
func (d directory) UsersBootstrapped() bool { return true }

func newDirectory(t *testing.T) directory {
	h, err := password.Hash("guest")
	if err != nil {
		t.Fatal(err)
	}
	return directory{
		users: map[string]fsm.User{
			"guest": {Name: "guest", PasswordHash: h, Tags: []string{TagAdministrator}},
			"svc":   {Name: "svc"}, // certificate-only
		},
		perms: map[[2]string]fsm.Permission{{"svc", "/"}: {User: "svc", VHost: "/", Configure: "", Write: "^out$", Read: "^in$"}},
	}
}

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

func TestGuestOnlyFromLoopback(t *testing.T) {
	a, err := NewAuthenticator(newDirectory(t), Options{FailureDelay: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ip := range []string{"127.0.0.1", "::1", "127.0.0.2"} {
		if _, err := a.Authenticate(ctx, Credentials{User: "guest", Password: "guest", Remote: tcp(ip)}); err != nil {
			t.Errorf("guest from %s: %v", ip, err)
		}
	}
	for _, ip := range []string{"198.18.0.2", "10.0.0.1", "::ffff:198.18.0.2"} {
		_, err := a.Authenticate(ctx, Credentials{User: "guest", Password: "guest", Remote: tcp(ip)})
		if !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("guest from %s: %v, want ErrUnauthenticated", ip, err)
		}
	}
}

func TestCertificateUser(t *testing.T) {
	a, err := NewAuthenticator(newDirectory(t), Options{FailureDelay: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := a.Authenticate(ctx, Credentials{CertUser: "svc", Remote: tcp("198.18.0.9")})
	if err != nil || u.Name != "svc" {
		t.Fatalf("certificate login: %v %v", u, err)
	}
	if _, err := a.Authenticate(ctx, Credentials{CertUser: "nobody", Remote: tcp("198.18.0.9")}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("certificate of an unknown user: %v", err)
	}
	// A user without a password cannot log in with one.
	if _, err := a.Authenticate(ctx, Credentials{User: "svc", Password: "", Remote: tcp("127.0.0.1")}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("password login of a certificate-only user: %v", err)
	}
	if _, err := a.Authenticate(ctx, Credentials{Remote: tcp("127.0.0.1")}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("no credentials: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	d := newDirectory(t)
	z := NewAuthorizer(d)
	svc, guest := d.users["svc"], d.users["guest"]
	for _, c := range []struct {
		u     fsm.User
		vhost string
		need  Need
		want  error
	}{
		{svc, "/", OnExchange(Write, "out"), nil},
		{svc, "/", OnExchange(Write, "outside"), ErrDenied}, // anchored by the pattern
		{svc, "/", OnQueue(Read, "in"), nil},
		{svc, "/", OnQueue(Configure, "in"), ErrDenied}, // "" permits nothing
		{svc, "/", OnExchange(Write, ""), ErrDenied},    // the default exchange is "amq.default"
		{svc, "/", Tag(TagMonitoring), ErrDenied},
		{svc, "/", Listing(), nil},
		{svc, "other", Listing(), ErrNoVHost},
		{guest, "/", Tag(TagMonitoring), nil}, // administrator covers monitoring
		{guest, "/", OnQueue(Read, "x"), ErrDenied},
	} {
		if err := z.Authorize(c.u, c.vhost, c.need); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s %+v in %q: %v, want %v", c.u.Name, c.need, c.vhost, err, c.want)
		}
	}
}
