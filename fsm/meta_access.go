package fsm

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// DefaultVHost is the virtual host every cluster has; it cannot be deleted.
const DefaultVHost = "/"

// Limits of the access commands, checked at apply like those of limits.go.
const (
	// MaxPasswordHashBytes bounds a stored password hash (a PHC string).
	MaxPasswordHashBytes = 512
	// MaxTags bounds the tags of one user.
	MaxTags = 32
	// MaxPatternBytes bounds one permission's regular expression.
	MaxPatternBytes = 4096
)

// User is a user as the meta state holds it. PasswordHash is a PHC string
// made at the API edge; "" means the user cannot log in with a password
// (only with a client certificate). CredentialIndex is the meta index of
// the last change of the password: an authentication cached before it is
// stale.
type User struct {
	Name            string
	PasswordHash    string
	Tags            []string // sorted, each once
	CredentialIndex uint64
}

// HasTag reports whether u carries tag.
func (u User) HasTag(tag string) bool {
	_, ok := slices.BinarySearch(u.Tags, tag)
	return ok
}

// Permission is what one user may do in one virtual host: RabbitMQ's three
// regular expressions over resource names (RE2 syntax, unanchored as
// RabbitMQ's; "" permits nothing).
type Permission struct {
	User, VHost            string
	Configure, Write, Read string
}

// access is the meta state's users, permissions and virtual hosts. Every
// apply costs what it touches: a user's permissions are kept under the user,
// and a virtual host's under it as well, so deleting either visits only
// its own.
type access struct {
	bootstrapped bool
	users        map[string]*User
	// perms maps user → vhost → permission; byVHost is its transpose.
	perms   map[string]map[string]Permission
	byVHost map[string]map[string]struct{}
	// vhosts holds every virtual host, DefaultVHost included, with its
	// limits (nil: none).
	vhosts map[string]*fsmpb.VHostLimits
}

func newAccess() access {
	return access{
		users:   map[string]*User{},
		perms:   map[string]map[string]Permission{},
		byVHost: map[string]map[string]struct{}{},
		vhosts:  map[string]*fsmpb.VHostLimits{DefaultVHost: nil},
	}
}

// apply applies an access command; ok is false for any other command.
func (a *access) apply(index uint64, cmd proto.Message) (res *Result, ok bool) {
	switch c := cmd.(type) {
	case *fsmpb.AddUser:
		return a.applyAddUser(index, c), true
	case *fsmpb.DeleteUser:
		return a.applyDeleteUser(c), true
	case *fsmpb.ChangePassword:
		return a.applyChangePassword(index, c), true
	case *fsmpb.SetUserTags:
		return a.applySetUserTags(c), true
	case *fsmpb.SetPermissions:
		return a.applySetPermissions(c.GetPermission()), true
	case *fsmpb.ClearPermissions:
		return a.applyClearPermissions(c), true
	case *fsmpb.BootstrapUser:
		return a.applyBootstrap(index, c), true
	}
	return nil, false
}

// checkUser checks what an AddUser carries, whatever the state.
func checkUser(c *fsmpb.AddUser) ([]string, error) {
	if err := ValidName("user name", c.GetName()); err != nil {
		return nil, err
	}
	if err := validText("password hash", c.GetPasswordHash(), MaxPasswordHashBytes, true); err != nil {
		return nil, err
	}
	return validTags(c.GetTags())
}

// validTags checks tags and returns them sorted, each once.
func validTags(tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, fmt.Errorf("%w: %d tags; the limit is %d", ErrInvalid, len(tags), MaxTags)
	}
	for _, t := range tags {
		if err := ValidName("user tag", t); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (a *access) applyAddUser(index uint64, c *fsmpb.AddUser) *Result {
	tags, err := checkUser(c)
	if err != nil {
		return refuse(err)
	}
	if _, ok := a.users[c.GetName()]; ok {
		return fail("%w: user %q exists", ErrExists, c.GetName())
	}
	a.users[c.GetName()] = &User{Name: c.GetName(), PasswordHash: c.GetPasswordHash(), Tags: tags, CredentialIndex: index}
	return &Result{Created: true}
}

func (a *access) applyDeleteUser(c *fsmpb.DeleteUser) *Result {
	if _, ok := a.users[c.GetName()]; !ok {
		return a.noUser(c.GetName())
	}
	for vhost := range a.perms[c.GetName()] {
		a.unindexPermission(c.GetName(), vhost)
	}
	delete(a.perms, c.GetName())
	delete(a.users, c.GetName())
	return &Result{}
}

// noUser is the result of a command naming a user that does not exist.
func (a *access) noUser(name string) *Result {
	if err := ValidName("user name", name); err != nil {
		return refuse(err)
	}
	return fail("%w: no user %q", ErrNotFound, name)
}

func (a *access) applyChangePassword(index uint64, c *fsmpb.ChangePassword) *Result {
	u, ok := a.users[c.GetName()]
	if !ok {
		return a.noUser(c.GetName())
	}
	if err := validText("password hash", c.GetPasswordHash(), MaxPasswordHashBytes, true); err != nil {
		return refuse(err)
	}
	u.PasswordHash, u.CredentialIndex = c.GetPasswordHash(), index
	return &Result{}
}

func (a *access) applySetUserTags(c *fsmpb.SetUserTags) *Result {
	u, ok := a.users[c.GetName()]
	if !ok {
		return a.noUser(c.GetName())
	}
	tags, err := validTags(c.GetTags())
	if err != nil {
		return refuse(err)
	}
	u.Tags = tags
	return &Result{}
}

// ValidPattern checks one permission's regular expression: at most
// MaxPatternBytes of UTF-8 that compiles as RE2. Pure (RE2 compilation
// depends on nothing but the text).
func ValidPattern(what, pattern string) error {
	if err := validText(what, pattern, MaxPatternBytes, true); err != nil {
		return err
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, what, err)
	}
	return nil
}

func checkPermission(p *fsmpb.Permission) error {
	if err := ValidName("user name", p.GetUser()); err != nil {
		return err
	}
	if err := ValidName("virtual host", p.GetVhost()); err != nil {
		return err
	}
	for _, f := range [...]struct{ what, re string }{
		{"configure permission", p.GetConfigure()}, {"write permission", p.GetWrite()}, {"read permission", p.GetRead()},
	} {
		if err := ValidPattern(f.what, f.re); err != nil {
			return err
		}
	}
	return nil
}

func (a *access) applySetPermissions(p *fsmpb.Permission) *Result {
	if err := checkPermission(p); err != nil {
		return refuse(err)
	}
	if _, ok := a.users[p.GetUser()]; !ok {
		return fail("%w: no user %q", ErrNotFound, p.GetUser())
	}
	if _, ok := a.vhosts[p.GetVhost()]; !ok {
		return fail("%w: no virtual host %q", ErrNotFound, p.GetVhost())
	}
	a.setPermission(permissionOf(p))
	return &Result{}
}

// permissionOf is the Permission a log or snapshot record holds.
func permissionOf(p *fsmpb.Permission) Permission {
	return Permission{User: p.GetUser(), VHost: p.GetVhost(), Configure: p.GetConfigure(), Write: p.GetWrite(), Read: p.GetRead()}
}

// setPermission stores p and indexes it under its virtual host.
func (a *access) setPermission(p Permission) {
	byUser := a.perms[p.User]
	if byUser == nil {
		byUser = map[string]Permission{}
		a.perms[p.User] = byUser
	}
	byUser[p.VHost] = p
	users := a.byVHost[p.VHost]
	if users == nil {
		users = map[string]struct{}{}
		a.byVHost[p.VHost] = users
	}
	users[p.User] = struct{}{}
}

// unindexPermission removes user from vhost's index (not from perms).
func (a *access) unindexPermission(user, vhost string) {
	delete(a.byVHost[vhost], user)
	if len(a.byVHost[vhost]) == 0 {
		delete(a.byVHost, vhost)
	}
}

func (a *access) applyClearPermissions(c *fsmpb.ClearPermissions) *Result {
	if _, ok := a.users[c.GetUser()]; !ok {
		return a.noUser(c.GetUser())
	}
	if _, ok := a.perms[c.GetUser()][c.GetVhost()]; !ok {
		if err := ValidName("virtual host", c.GetVhost()); err != nil {
			return refuse(err)
		}
		return fail("%w: user %q has no permissions in virtual host %q", ErrNotFound, c.GetUser(), c.GetVhost())
	}
	delete(a.perms[c.GetUser()], c.GetVhost())
	if len(a.perms[c.GetUser()]) == 0 {
		delete(a.perms, c.GetUser())
	}
	a.unindexPermission(c.GetUser(), c.GetVhost())
	return &Result{}
}

// applyBootstrap creates the first user once: a second bootstrap (another
// node's, or one proposed again after a leader change) is a no-op, as is one
// applied when users exist already.
func (a *access) applyBootstrap(index uint64, c *fsmpb.BootstrapUser) *Result {
	if a.bootstrapped {
		return &Result{}
	}
	tags, err := checkUser(c.GetUser())
	if err != nil {
		return refuse(err)
	}
	p := c.GetPermission()
	if err := checkPermission(p); err != nil {
		return refuse(err)
	}
	if p.GetUser() != c.GetUser().GetName() {
		return fail("%w: bootstrap permission is for %q, not for the bootstrap user %q", ErrInvalid, p.GetUser(), c.GetUser().GetName())
	}
	if _, ok := a.vhosts[p.GetVhost()]; !ok {
		return fail("%w: no virtual host %q", ErrNotFound, p.GetVhost())
	}
	a.bootstrapped = true
	if len(a.users) > 0 {
		return &Result{}
	}
	u := c.GetUser()
	a.users[u.GetName()] = &User{Name: u.GetName(), PasswordHash: u.GetPasswordHash(), Tags: tags, CredentialIndex: index}
	a.setPermission(permissionOf(p))
	return &Result{Created: true}
}

// addVHost records a new virtual host (Meta adds its exchanges).
func (a *access) addVHost(name string) *Result {
	if _, ok := a.vhosts[name]; ok {
		return fail("%w: virtual host %q exists", ErrExists, name)
	}
	a.vhosts[name] = nil
	return &Result{Created: true}
}

// deleteVHost forgets a virtual host and every permission in it (Meta
// deletes its objects).
func (a *access) deleteVHost(name string) {
	for user := range a.byVHost[name] {
		delete(a.perms[user], name)
		if len(a.perms[user]) == 0 {
			delete(a.perms, user)
		}
	}
	delete(a.byVHost, name)
	delete(a.vhosts, name)
}

// limits returns vhost's limits, never nil.
func (a *access) limits(vhost string) *fsmpb.VHostLimits {
	if l := a.vhosts[vhost]; l != nil {
		return l
	}
	return &fsmpb.VHostLimits{}
}

// User returns the named user.
func (m *Meta) User(name string) (User, bool) {
	u, ok := m.access.users[name]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// UsersBootstrapped reports whether the first user was created (by a
// BootstrapUser); until then the meta leader proposes one.
func (m *Meta) UsersBootstrapped() bool { return m.access.bootstrapped }

// Permission returns user's permissions in vhost.
func (m *Meta) Permission(user, vhost string) (Permission, bool) {
	p, ok := m.access.perms[user][vhost]
	return p, ok
}

// HasVHost reports whether vhost exists.
func (m *Meta) HasVHost(vhost string) bool {
	_, ok := m.access.vhosts[vhost]
	return ok
}

// Users lists every user sorted by name.
func (m *Meta) Users() []User {
	out := make([]User, 0, len(m.access.users))
	for _, u := range m.access.users {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// VHosts lists every virtual host sorted by name.
func (m *Meta) VHosts() []string {
	out := make([]string, 0, len(m.access.vhosts))
	for v := range m.access.vhosts {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Permissions lists the permissions of user (all users if "") in vhost (all
// virtual hosts if ""), sorted by user then vhost.
func (m *Meta) Permissions(user, vhost string) []Permission {
	var users []string
	switch {
	case user != "":
		users = []string{user}
	case vhost != "":
		for u := range m.access.byVHost[vhost] {
			users = append(users, u)
		}
	default:
		for u := range m.access.perms {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	var out []Permission
	for _, u := range users {
		if vhost != "" {
			if p, ok := m.access.perms[u][vhost]; ok {
				out = append(out, p)
			}
			continue
		}
		vhosts := make([]string, 0, len(m.access.perms[u]))
		for v := range m.access.perms[u] {
			vhosts = append(vhosts, v)
		}
		slices.Sort(vhosts)
		for _, v := range vhosts {
			out = append(out, m.access.perms[u][v])
		}
	}
	return out
}
