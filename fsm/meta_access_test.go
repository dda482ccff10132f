package fsm

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func allPerm(user, vhost string) *fsmpb.Permission {
	return &fsmpb.Permission{User: user, Vhost: vhost, Configure: ".*", Write: ".*", Read: ".*"}
}

func TestAccessUsers(t *testing.T) {
	l := newMetaLog(t, 1)
	l.must(&fsmpb.AddUser{Name: "alice", PasswordHash: "h1", Tags: []string{"monitoring", "administrator", "monitoring"}})
	u, ok := l.m.User("alice")
	if !ok || u.PasswordHash != "h1" || !slices.Equal(u.Tags, []string{"administrator", "monitoring"}) || u.CredentialIndex != 1 {
		t.Fatalf("alice = %+v, %t", u, ok)
	}
	if !u.HasTag("administrator") || u.HasTag("management") {
		t.Errorf("HasTag wrong for %v", u.Tags)
	}
	if res := l.apply(&fsmpb.AddUser{Name: "alice", PasswordHash: "h2"}); !errors.Is(res.Err, ErrExists) {
		t.Errorf("second AddUser: %v, want ErrExists", res.Err)
	}
	l.must(&fsmpb.ChangePassword{Name: "alice", PasswordHash: "h3"})
	if u, _ := l.m.User("alice"); u.PasswordHash != "h3" || u.CredentialIndex != 3 {
		t.Errorf("after ChangePassword: %+v", u)
	}
	l.must(&fsmpb.SetUserTags{Name: "alice"})
	if u, _ := l.m.User("alice"); len(u.Tags) != 0 {
		t.Errorf("tags after clearing: %v", u.Tags)
	}
	l.must(&fsmpb.SetPermissions{Permission: allPerm("alice", DefaultVHost)})
	l.must(&fsmpb.DeleteUser{Name: "alice"})
	if _, ok := l.m.User("alice"); ok {
		t.Error("alice survived DeleteUser")
	}
	if _, ok := l.m.Permission("alice", DefaultVHost); ok || len(l.m.Permissions("", DefaultVHost)) != 0 {
		t.Error("alice's permissions survived DeleteUser")
	}
	for name, c := range map[string]struct {
		res  *Result
		want error
	}{
		"delete unknown":          {l.apply(&fsmpb.DeleteUser{Name: "bob"}), ErrNotFound},
		"empty name":              {l.apply(&fsmpb.AddUser{Name: ""}), ErrInvalid},
		"too many tags":           {l.apply(&fsmpb.AddUser{Name: "x", Tags: make([]string, MaxTags+1)}), ErrInvalid},
		"password of unknown":     {l.apply(&fsmpb.ChangePassword{Name: "bob", PasswordHash: "h"}), ErrNotFound},
		"permission unknown user": {l.apply(&fsmpb.SetPermissions{Permission: allPerm("bob", DefaultVHost)}), ErrNotFound},
	} {
		if !errors.Is(c.res.Err, c.want) {
			t.Errorf("%s: %v, want %v", name, c.res.Err, c.want)
		}
	}
}

func TestAccessPermissionsAndVHosts(t *testing.T) {
	l := newMetaLog(t, 1)
	l.must(&fsmpb.AddUser{Name: "u"})
	if res := l.apply(&fsmpb.SetPermissions{Permission: allPerm("u", "v")}); !errors.Is(res.Err, ErrNotFound) {
		t.Errorf("permission in an unknown vhost: %v, want ErrNotFound", res.Err)
	}
	bad := allPerm("u", DefaultVHost)
	bad.Write = "(unclosed"
	if res := l.apply(&fsmpb.SetPermissions{Permission: bad}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("bad pattern: %v, want ErrInvalid", res.Err)
	}
	l.must(&fsmpb.AddVHost{Name: "v"})
	if res := l.apply(&fsmpb.AddVHost{Name: "v"}); !errors.Is(res.Err, ErrExists) {
		t.Errorf("second AddVHost: %v", res.Err)
	}
	l.must(&fsmpb.SetPermissions{Permission: allPerm("u", "v")})
	l.must(&fsmpb.SetPermissions{Permission: &fsmpb.Permission{User: "u", Vhost: DefaultVHost, Read: "^q$"}})
	if got := l.m.Permissions("u", ""); len(got) != 2 || got[0].VHost != DefaultVHost || got[1].VHost != "v" {
		t.Errorf("permissions of u: %+v", got)
	}
	l.must(&fsmpb.DeleteVHost{Name: "v"})
	if l.m.HasVHost("v") || len(l.m.Permissions("u", "")) != 1 {
		t.Errorf("vhost v or its permissions survived: %+v", l.m.Permissions("u", ""))
	}
	if res := l.apply(&fsmpb.DeleteVHost{Name: DefaultVHost}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("deleting the default vhost: %v, want ErrInvalid", res.Err)
	}
	l.must(&fsmpb.ClearPermissions{User: "u", Vhost: DefaultVHost})
	if res := l.apply(&fsmpb.ClearPermissions{User: "u", Vhost: DefaultVHost}); !errors.Is(res.Err, ErrNotFound) {
		t.Errorf("clearing twice: %v, want ErrNotFound", res.Err)
	}
}

func TestAccessBootstrapOnce(t *testing.T) {
	l := newMetaLog(t, 1)
	if l.m.UsersBootstrapped() {
		t.Fatal("fresh state is bootstrapped")
	}
	boot := func(name string) *fsmpb.BootstrapUser {
		return &fsmpb.BootstrapUser{User: &fsmpb.AddUser{Name: name, PasswordHash: "h", Tags: []string{"administrator"}}, Permission: allPerm(name, DefaultVHost)}
	}
	if res := l.must(boot("guest")); !res.Created {
		t.Error("first bootstrap created nothing")
	}
	if res := l.must(boot("admin")); res.Created {
		t.Error("second bootstrap created a user")
	}
	if _, ok := l.m.User("admin"); ok || !l.m.UsersBootstrapped() {
		t.Error("second bootstrap applied")
	}
	if p, ok := l.m.Permission("guest", DefaultVHost); !ok || p.Configure != ".*" {
		t.Errorf("guest permission %+v %t", p, ok)
	}
	// Deleting every user does not bring the bootstrap back.
	l.must(&fsmpb.DeleteUser{Name: "guest"})
	if res := l.must(boot("guest")); res.Created {
		t.Error("bootstrap after deleting every user created one again")
	}
}

func TestAccessSnapshotRoundTrip(t *testing.T) {
	l := newMetaLog(t, fuzzMetaGroups)
	l.must(&fsmpb.BootstrapUser{User: &fsmpb.AddUser{Name: "guest", PasswordHash: "g"}, Permission: allPerm("guest", DefaultVHost)})
	l.must(&fsmpb.AddVHost{Name: "b"})
	l.must(&fsmpb.AddVHost{Name: "a"})
	for _, u := range []string{"zed", "amy", "kim"} {
		l.must(&fsmpb.AddUser{Name: u, PasswordHash: "h-" + u, Tags: []string{"monitoring"}})
		l.must(&fsmpb.SetPermissions{Permission: allPerm(u, "b")})
		l.must(&fsmpb.SetPermissions{Permission: &fsmpb.Permission{User: u, Vhost: "a", Read: u}})
	}
	restored := restoreMetaRoundTrip(t, metaSnapshotBytes(t, l.m))
	if !restored.UsersBootstrapped() || len(restored.Users()) != 4 || !slices.Equal(restored.VHosts(), []string{"/", "a", "b"}) {
		t.Errorf("restored: bootstrapped %t, users %v, vhosts %v", restored.UsersBootstrapped(), restored.Users(), restored.VHosts())
	}
	if got := restored.Permissions("", "a"); len(got) != 3 || got[0].User != "amy" || got[0].Read != "amy" {
		t.Errorf("restored permissions in a: %+v", got)
	}
	// Deleting a vhost after restore finds its permissions through the
	// rebuilt index.
	if res := restored.Apply(l.index+1, &fsmpb.DeleteVHost{Name: "a"}); res.Err != nil || len(restored.Permissions("kim", "")) != 1 {
		t.Errorf("delete vhost after restore: %v, kim has %+v", res.Err, restored.Permissions("kim", ""))
	}
}

// BenchmarkUsersMemory reports what 10,000 users with argon2id PHC hashes,
// each with a permission in the default vhost, cost the meta state's heap.
func BenchmarkUsersMemory(b *testing.B) {
	const users = 10_000
	hash := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := NewMeta(1)
		for i := range users {
			name := fmt.Sprintf("user-%05d", i)
			m.Apply(uint64(2*i+1), &fsmpb.AddUser{Name: name, PasswordHash: hash, Tags: []string{"monitoring"}})
			m.Apply(uint64(2*i+2), &fsmpb.SetPermissions{Permission: allPerm(name, DefaultVHost)})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(m.Users()) != users {
			b.Fatalf("%d users", len(m.Users()))
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/users, "heap-B/user")
		runtime.KeepAlive(m)
	}
}
