package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/internal/password"
)

// Users, permissions and virtual hosts live in the meta group. Passwords are
// hashed here, on the node that received them, so the log and every snapshot
// hold only hashes. Who may call these is the access package's concern.

// User is a user without its password hash.
type User struct {
	Name string
	Tags []string
}

// Permission is what a user may do in a virtual host (see fsm.Permission).
type Permission = fsm.Permission

// BootstrapUser is the first user of a fresh cluster.
type BootstrapUser struct {
	Name, Password string
}

// hashPassword hashes a password given to the API; "" stores no hash: the
// user can then only authenticate with a client certificate.
func hashPassword(pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	h, err := password.Hash(pw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	return h, nil
}

// AddUser creates a user.
func (b *Broker) AddUser(ctx context.Context, name, pw string, tags []string) (uint64, error) {
	h, err := hashPassword(pw)
	if err != nil {
		return 0, err
	}
	_, idx, err := b.proposeMeta(ctx, &fsmpb.AddUser{Name: name, PasswordHash: h, Tags: tags})
	return idx, err
}

// DeleteUser deletes a user and its permissions.
func (b *Broker) DeleteUser(ctx context.Context, name string) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.DeleteUser{Name: name})
	return idx, err
}

// ChangePassword replaces a user's password ("" leaves certificate login
// only).
func (b *Broker) ChangePassword(ctx context.Context, name, pw string) (uint64, error) {
	h, err := hashPassword(pw)
	if err != nil {
		return 0, err
	}
	_, idx, err := b.proposeMeta(ctx, &fsmpb.ChangePassword{Name: name, PasswordHash: h})
	return idx, err
}

// SetUserTags replaces a user's tags.
func (b *Broker) SetUserTags(ctx context.Context, name string, tags []string) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.SetUserTags{Name: name, Tags: tags})
	return idx, err
}

// SetPermissions sets a user's permissions in a virtual host.
func (b *Broker) SetPermissions(ctx context.Context, p Permission) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.SetPermissions{Permission: &fsmpb.Permission{
		User: p.User, Vhost: p.VHost, Configure: p.Configure, Write: p.Write, Read: p.Read,
	}})
	return idx, err
}

// ClearPermissions removes a user's permissions in a virtual host.
func (b *Broker) ClearPermissions(ctx context.Context, user, vhost string) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.ClearPermissions{User: user, Vhost: vhost})
	return idx, err
}

// AddVHost creates a virtual host.
func (b *Broker) AddVHost(ctx context.Context, name string) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.AddVHost{Name: name})
	return idx, err
}

// DeleteVHost deletes a virtual host with its queues (and their messages),
// exchanges, bindings and permissions.
func (b *Broker) DeleteVHost(ctx context.Context, name string) (uint64, error) {
	res, idx, err := b.proposeMeta(ctx, &fsmpb.DeleteVHost{Name: name})
	if err != nil {
		return 0, err
	}
	b.dropQueues(ctx, res.DroppedQueues, "virtual host deleted")
	return idx, nil
}

// VHostLimits are RabbitMQ's per-vhost limits; nil is no limit.
type VHostLimits struct {
	MaxQueues, MaxExchanges, MaxBindings *int64
}

// SetVHostLimits replaces a virtual host's limits.
func (b *Broker) SetVHostLimits(ctx context.Context, name string, l VHostLimits) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.SetVHostLimits{Name: name, Limits: &fsmpb.VHostLimits{
		MaxQueues: l.MaxQueues, MaxExchanges: l.MaxExchanges, MaxBindings: l.MaxBindings,
	}})
	return idx, err
}

// VHostLimitsOf returns a virtual host's limits.
func (b *Broker) VHostLimitsOf(name string) (VHostLimits, bool) {
	var l *fsmpb.VHostLimits
	var ok bool
	b.readMeta(func(m *fsm.Meta) {
		if ok = m.HasVHost(name); ok {
			l = m.VHostLimits(name)
		}
	})
	return VHostLimits{MaxQueues: l.MaxQueues, MaxExchanges: l.MaxExchanges, MaxBindings: l.MaxBindings}, ok
}

// UserRecord returns a user as the meta state holds it, hash included, for
// authentication.
func (b *Broker) UserRecord(name string) (fsm.User, bool) {
	var u fsm.User
	var ok bool
	b.readMeta(func(m *fsm.Meta) { u, ok = m.User(name) })
	return u, ok
}

// PermissionOf returns user's permissions in vhost.
func (b *Broker) PermissionOf(user, vhost string) (Permission, bool) {
	var p Permission
	var ok bool
	b.readMeta(func(m *fsm.Meta) { p, ok = m.Permission(user, vhost) })
	return p, ok
}

// HasVHost reports whether the virtual host exists.
func (b *Broker) HasVHost(vhost string) bool {
	var ok bool
	b.readMeta(func(m *fsm.Meta) { ok = m.HasVHost(vhost) })
	return ok
}

// UsersAfter is one page of the users, by name after cursor.
func (b *Broker) UsersAfter(cursor string, limit int) ([]User, bool) {
	var all []fsm.User
	b.readMeta(func(m *fsm.Meta) { all = m.Users() })
	page, more := pageAfter(all, func(u fsm.User) string { return u.Name }, cursor, limit)
	out := make([]User, len(page))
	for i, u := range page {
		out[i] = User{Name: u.Name, Tags: u.Tags}
	}
	return out, more
}

// VHostsAfter is one page of the virtual hosts, by name after cursor.
func (b *Broker) VHostsAfter(cursor string, limit int) ([]string, bool) {
	var all []string
	b.readMeta(func(m *fsm.Meta) { all = m.VHosts() })
	return pageAfter(all, func(v string) string { return v }, cursor, limit)
}

// Permissions lists permissions, optionally of one user and/or vhost.
func (b *Broker) Permissions(user, vhost string) []Permission {
	var out []Permission
	b.readMeta(func(m *fsm.Meta) { out = m.Permissions(user, vhost) })
	return out
}

// bootstrapUsers creates the first user of a fresh cluster, once: the
// configured one (Config.Bootstrap) or guest/guest, an administrator with
// every permission in the default virtual host, as RabbitMQ's first boot
// does. Every meta leader tries until the state says it is done; the FSM
// applies only the first.
// It reports whether the bootstrap is done.
func (b *Broker) bootstrapUsers(ctx context.Context) bool {
	if b.UsersBootstrapped() {
		if name := b.cfg.Bootstrap.Name; name != "" {
			if _, ok := b.UserRecord(name); !ok {
				b.logger.Warn("bootstrap user not created: this cluster's first user was created before; add users with `warren user add`", "user", name)
			}
		}
		return true
	}
	u := b.cfg.Bootstrap
	if u.Name == "" {
		u = BootstrapUser{Name: "guest", Password: "guest"}
	}
	h, err := hashPassword(u.Password)
	if err != nil {
		b.logger.Error("cannot hash the bootstrap user's password", "error", err)
		return true
	}
	res, _, err := b.proposeMeta(ctx, &fsmpb.BootstrapUser{
		User:       &fsmpb.AddUser{Name: u.Name, PasswordHash: h, Tags: []string{"administrator"}},
		Permission: &fsmpb.Permission{User: u.Name, Vhost: fsm.DefaultVHost, Configure: ".*", Write: ".*", Read: ".*"},
	})
	switch {
	case err != nil:
		b.logger.Warn("bootstrap user not created yet", "user", u.Name, "error", err)
		return false
	case res.Created:
		b.logger.Info("created the bootstrap user", "user", u.Name)
	}
	return true
}

// UsersBootstrapped reports whether the first user of the cluster exists
// (or existed): until then no one can authenticate.
func (b *Broker) UsersBootstrapped() bool {
	var done bool
	b.readMeta(func(m *fsm.Meta) { done = m.UsersBootstrapped() })
	return done
}

// WaitBootstrapped waits until UsersBootstrapped, or ctx ends.
func (b *Broker) WaitBootstrapped(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !b.UsersBootstrapped() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("users not bootstrapped: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// PermissionsAfter is one page of Permissions(user, vhost), after the
// permission whose PermissionCursor is cursor.
func (b *Broker) PermissionsAfter(user, vhost, cursor string, limit int) ([]Permission, bool) {
	return pageAfter(b.Permissions(user, vhost), PermissionCursor, cursor, limit)
}

// PermissionCursor is the key permissions are paged by: user, then vhost.
func PermissionCursor(p Permission) string { return p.User + "\x00" + p.VHost }
