package access

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/internal/password"
	"golang.org/x/time/rate"
)

// User is an authenticated user (its password hash included: do not send
// it anywhere).
type User = fsm.User

// Directory is what access reads: the replicated users, permissions and
// virtual hosts (the broker).
type Directory interface {
	UserRecord(name string) (fsm.User, bool)
	PermissionOf(user, vhost string) (fsm.Permission, bool)
	HasVHost(vhost string) bool
	UsersBootstrapped() bool
}

// Credentials are what a client presented.
type Credentials struct {
	// User and Password, when User is set, are a password login.
	User, Password string
	// CertUser is the common name of a client certificate the TLS layer
	// verified against the client CA, "" without one. It names the user
	// when no password login is given (RabbitMQ's EXTERNAL mechanism).
	CertUser string
	// Remote is the client's address (for loopback-only users and the
	// failure rate limit).
	Remote net.Addr
}

// Options tune an Authenticator. The zero value is RabbitMQ's defaults.
type Options struct {
	// LoopbackUsers may connect only from a loopback address; nil means
	// {"guest"} (RabbitMQ's loopback_users).
	LoopbackUsers []string
	// FailureDelay is how long a failed login waits before it answers,
	// which slows guessing; 0 means DefaultFailureDelay.
	FailureDelay time.Duration
	// FailureBurst failed logins from one address are answered; after that
	// one per FailureEvery; 0 means the defaults.
	FailureBurst int
	FailureEvery time.Duration
}

// Defaults of Options.
const (
	DefaultFailureDelay = 200 * time.Millisecond
	DefaultFailureBurst = 10
	DefaultFailureEvery = time.Second
)

// Bounds of the in-memory tables, so no client can grow them without end.
const (
	maxCached      = 10_000
	maxAddresses   = 10_000
	maxConcurrency = 2 // argon2id verifications at once (19 MiB each)
)

// Authenticator checks credentials against the Directory. A verified
// password is remembered (as an HMAC under a key of this process, never
// in clear) until the user's password changes, so a client pays the
// memory-hard hash once, not on every call. Safe for concurrent use.
type Authenticator struct {
	dir      Directory
	opts     Options
	loopback map[string]bool

	cacheKey []byte
	mu       sync.Mutex
	verified map[[sha256.Size]byte]uint64 // credential digest → user's CredentialIndex
	failures map[string]*rate.Limiter     // by client IP

	slots chan struct{}
	// dummy is verified for unknown users, so that a login takes as long
	// whether or not the user exists.
	dummy string
}

// NewAuthenticator returns an Authenticator reading dir.
func NewAuthenticator(dir Directory, opts Options) (*Authenticator, error) {
	if opts.LoopbackUsers == nil {
		opts.LoopbackUsers = []string{"guest"}
	}
	if opts.FailureDelay == 0 {
		opts.FailureDelay = DefaultFailureDelay
	}
	if opts.FailureBurst == 0 {
		opts.FailureBurst = DefaultFailureBurst
	}
	if opts.FailureEvery == 0 {
		opts.FailureEvery = DefaultFailureEvery
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dummy, err := password.Hash("not a password anyone has")
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		dir: dir, opts: opts, loopback: map[string]bool{}, cacheKey: key,
		verified: map[[sha256.Size]byte]uint64{}, failures: map[string]*rate.Limiter{},
		slots: make(chan struct{}, maxConcurrency), dummy: dummy,
	}
	for _, u := range opts.LoopbackUsers {
		a.loopback[u] = true
	}
	return a, nil
}

// Authenticate returns the user c logs in as. Errors wrap ErrUnauthenticated
// (after Options.FailureDelay), ErrThrottled, or ErrNotReady.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (fsm.User, error) {
	ip := hostOf(c.Remote)
	if a.throttled(ip) {
		return fsm.User{}, fmt.Errorf("%w: too many failed logins from %s; try again in a few seconds", ErrThrottled, ip)
	}
	name, how := c.User, "password"
	if name == "" {
		name, how = c.CertUser, "client certificate"
	}
	if name == "" {
		return fsm.User{}, a.fail(ctx, ip, fmt.Errorf("%w: no credentials: give a user and password, or a client certificate", ErrUnauthenticated))
	}
	if a.loopback[name] && !isLoopback(c.Remote) {
		return fsm.User{}, a.fail(ctx, ip, fmt.Errorf("%w: user %q may connect only from loopback (its default password is public); create another user", ErrUnauthenticated, name))
	}
	u, ok := a.dir.UserRecord(name)
	if !ok && !a.dir.UsersBootstrapped() {
		return fsm.User{}, fmt.Errorf("%w: the cluster's first user is not created yet", ErrNotReady)
	}
	if how == "client certificate" {
		if !ok {
			return fsm.User{}, a.fail(ctx, ip, fmt.Errorf("%w: client certificate names user %q, who does not exist", ErrUnauthenticated, name))
		}
		return u, nil
	}
	digest := a.digest(name, c.Password)
	if ok && a.cached(digest, u.CredentialIndex) {
		return u, nil
	}
	match, err := a.verify(ctx, u, ok, c.Password)
	if err != nil {
		return fsm.User{}, err
	}
	if !match {
		return fsm.User{}, a.fail(ctx, ip, fmt.Errorf("%w: user %q: wrong password or no such user", ErrUnauthenticated, name))
	}
	a.remember(digest, u.CredentialIndex)
	return u, nil
}

// verify runs the memory-hard hash, at most maxConcurrency at once.
func (a *Authenticator) verify(ctx context.Context, u fsm.User, exists bool, pw string) (bool, error) {
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.slots }()
	hash := u.PasswordHash
	if !exists || hash == "" {
		_, _ = password.Verify(a.dummy, pw)
		return false, nil
	}
	ok, err := password.Verify(hash, pw)
	return ok && err == nil, nil
}

func (a *Authenticator) digest(user, pw string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.cacheKey)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

func (a *Authenticator) cached(d [sha256.Size]byte, credIndex uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	idx, ok := a.verified[d]
	return ok && idx == credIndex
}

func (a *Authenticator) remember(d [sha256.Size]byte, credIndex uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxCached {
		clear(a.verified) // the next logins verify again; nothing is lost
	}
	a.verified[d] = credIndex
}

// throttled reports whether ip has used up its failed logins.
func (a *Authenticator) throttled(ip string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.failures[ip]
	return ok && l.Tokens() < 1
}

// fail counts a failed login of ip, waits the failure delay, and returns
// err.
func (a *Authenticator) fail(ctx context.Context, ip string, err error) error {
	a.mu.Lock()
	l, ok := a.failures[ip]
	if !ok {
		if len(a.failures) >= maxAddresses {
			for k, v := range a.failures { // forget addresses that are quiet again
				if v.Tokens() >= float64(a.opts.FailureBurst) {
					delete(a.failures, k)
				}
			}
		}
		if len(a.failures) < maxAddresses {
			l = rate.NewLimiter(rate.Every(a.opts.FailureEvery), a.opts.FailureBurst)
			a.failures[ip] = l
		}
	}
	if l != nil {
		l.Allow()
	}
	a.mu.Unlock()
	t := time.NewTimer(a.opts.FailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return err
}

func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// isLoopback reports whether addr is a loopback address (or a Unix socket,
// reachable only on this host).
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case nil:
		return false
	}
	ip := net.ParseIP(hostOf(addr))
	return ip != nil && ip.IsLoopback()
}
