package fsm

import (
	"fmt"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// record is the access state as the snapshot holds it, in a deterministic
// order (users by name, permissions by user then vhost, vhosts by name; the
// default vhost, which always exists, is listed only with limits).
func (a *access) record() *fsmpb.MetaAccess {
	m := &Meta{access: *a}
	rec := &fsmpb.MetaAccess{Bootstrapped: a.bootstrapped}
	for _, u := range m.Users() {
		rec.Users = append(rec.Users, &fsmpb.MetaUserRecord{
			Name: u.Name, PasswordHash: u.PasswordHash, Tags: u.Tags, CredentialIndex: u.CredentialIndex,
		})
	}
	for _, p := range m.Permissions("", "") {
		rec.Permissions = append(rec.Permissions, &fsmpb.Permission{
			User: p.User, Vhost: p.VHost, Configure: p.Configure, Write: p.Write, Read: p.Read,
		})
	}
	for _, v := range m.VHosts() {
		if v != DefaultVHost || a.vhosts[v] != nil {
			rec.Vhosts = append(rec.Vhosts, &fsmpb.MetaVHostRecord{Name: v, Limits: a.vhosts[v]})
		}
	}
	return rec
}

// restore loads rec (nil for a snapshot written before users existed) into
// a fresh access state. As for the rest of the snapshot, names are not held
// to the limits: a snapshot holds what its log accepted; but references
// must resolve.
func (a *access) restore(rec *fsmpb.MetaAccess) error {
	a.bootstrapped = rec.GetBootstrapped()
	for _, v := range rec.GetVhosts() {
		if v.GetName() == "" {
			// No command creates it (AddVHost checks the name), and
			// objects' keys read "" as the default vhost: its built-in
			// exchanges would replace the default's under their keys
			// while both vhosts indexed them (found by FuzzRestoreMeta).
			return fmt.Errorf("virtual host with an empty name")
		}
		a.vhosts[v.GetName()] = v.GetLimits()
	}
	for _, u := range rec.GetUsers() {
		if _, dup := a.users[u.GetName()]; dup {
			return fmt.Errorf("user %q twice", u.GetName())
		}
		tags, err := validTags(u.GetTags())
		if err != nil {
			return fmt.Errorf("user %q: %v", u.GetName(), err)
		}
		a.users[u.GetName()] = &User{Name: u.GetName(), PasswordHash: u.GetPasswordHash(), Tags: tags, CredentialIndex: u.GetCredentialIndex()}
	}
	for _, p := range rec.GetPermissions() {
		if _, ok := a.users[p.GetUser()]; !ok {
			return fmt.Errorf("permission of unknown user %q", p.GetUser())
		}
		if _, ok := a.vhosts[p.GetVhost()]; !ok {
			return fmt.Errorf("permission in unknown virtual host %q", p.GetVhost())
		}
		a.setPermission(permissionOf(p))
	}
	return nil
}
