package manage

import (
	"net/http"
	"strings"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
)

// Users, virtual hosts and permissions are administrators' (the gRPC
// AccessService's rules): every call here needs the administrator tag.

// maxAdminListed bounds the users or vhosts one list call reads.
const maxAdminListed = 100_000

type userJSON struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func (s *Server) admin(c *caller) error { return s.authorize(c, "/", access.AdminNeeds()...) }

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, []string{"name"})
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	users, _ := s.b.UsersAfter("", maxAdminListed)
	all := make([]userJSON, len(users))
	for i, u := range users {
		all[i] = userJSON{Name: u.Name, Tags: nonNil(u.Tags)}
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(u userJSON) string { return u.Name }, func(u userJSON, _ string) string { return u.Name }))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "user")
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	u, ok := s.b.UserRecord(name)
	if !ok {
		return notFound("no user %q", name)
	}
	writeJSON(w, http.StatusOK, userJSON{Name: u.Name, Tags: nonNil(u.Tags)})
	return nil
}

// putUserRequest is the body of PUT /api/users/{name}: RabbitMQ's, with
// tags a list (or RabbitMQ's comma-separated string).
type putUserRequest struct {
	Password     *string `json:"password"`
	PasswordHash *string `json:"password_hash"`
	Tags         any     `json:"tags"`
}

// putUser creates a user or changes its password and tags.
func (s *Server) putUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "user")
	if err != nil {
		return err
	}
	var req putUserRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	if req.PasswordHash != nil {
		return badRequest("password_hash: Warren hashes passwords itself (argon2id); give password")
	}
	tags, err := tagsOf(req.Tags)
	if err != nil {
		return err
	}
	if req.Password != nil && len(*req.Password) > access.MaxPasswordBytes {
		return badRequest("password is %d bytes long; the limit is %d", len(*req.Password), access.MaxPasswordBytes)
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if _, exists := s.b.UserRecord(name); !exists {
		pw := ""
		if req.Password != nil {
			pw = *req.Password
		}
		if _, err := s.b.AddUser(r.Context(), name, pw, tags); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	if req.Password != nil {
		if _, err := s.b.ChangePassword(r.Context(), name, *req.Password); err != nil {
			return err
		}
	}
	if req.Tags != nil {
		if _, err := s.b.SetUserTags(r.Context(), name, tags); err != nil {
			return err
		}
	}
	return noContent(w)
}

// tagsOf reads tags: a list of strings, or a comma-separated string.
func tagsOf(v any) ([]string, error) {
	var tags []string
	switch x := v.(type) {
	case nil:
	case string:
		for _, t := range strings.Split(x, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	case []any:
		for _, e := range x {
			t, ok := e.(string)
			if !ok {
				return nil, badRequest("tags: a list of strings")
			}
			tags = append(tags, t)
		}
	default:
		return nil, badRequest("tags: a list of strings or a comma-separated string")
	}
	if len(tags) > access.MaxTags {
		return nil, badRequest("tags: %d; the limit is %d", len(tags), access.MaxTags)
	}
	for _, t := range tags {
		if err := checkName("tag", t, false); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "user")
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if _, err := s.b.DeleteUser(r.Context(), name); err != nil {
		return err
	}
	return noContent(w)
}

type vhostJSON struct {
	Name          string `json:"name"`
	MaxQueues     *int64 `json:"max_queues,omitempty"`
	MaxExchanges  *int64 `json:"max_exchanges,omitempty"`
	MaxBindings   *int64 `json:"max_bindings,omitempty"`
	QueueCount    int    `json:"queues"`
	ExchangeCount int    `json:"exchanges"`
}

// listVHosts answers GET /api/vhosts: every vhost to monitoring users and
// administrators; to others the ones they have access to.
func (s *Server) listVHosts(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, []string{"name"})
	if err != nil {
		return err
	}
	vhosts, err := s.listedVHosts(r, c)
	if err != nil {
		return err
	}
	all := make([]vhostJSON, len(vhosts))
	for i, vh := range vhosts {
		all[i] = s.vhostOut(vh)
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(v vhostJSON) string { return v.Name }, func(v vhostJSON, _ string) string { return v.Name }))
	return nil
}

func (s *Server) vhostOut(vh string) vhostJSON {
	out := vhostJSON{Name: vh, QueueCount: len(s.b.QueueNames(vh)), ExchangeCount: len(s.b.Exchanges(vh))}
	if l, ok := s.b.VHostLimitsOf(vh); ok {
		out.MaxQueues, out.MaxExchanges, out.MaxBindings = l.MaxQueues, l.MaxExchanges, l.MaxBindings
	}
	return out
}

func (s *Server) getVHost(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "virtual host")
	if err != nil {
		return err
	}
	if err := s.authorize(c, name, access.ListingNeeds()...); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.vhostOut(name))
	return nil
}

// putVHost creates a virtual host (204 when it exists).
func (s *Server) putVHost(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "virtual host")
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		var req struct {
			Description string `json:"description"`
			Tags        any    `json:"tags"`
		}
		if err := decode(w, r, maxControlBody, &req); err != nil {
			return err
		}
		if req.Description != "" || req.Tags != nil {
			return badRequest("description and tags: Warren's virtual hosts have neither; send no body or {}")
		}
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if s.b.HasVHost(name) {
		return noContent(w)
	}
	if _, err := s.b.AddVHost(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) deleteVHost(w http.ResponseWriter, r *http.Request, c *caller) error {
	name, err := pathName(r, "name", "virtual host")
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if _, err := s.b.DeleteVHost(r.Context(), name); err != nil {
		return err
	}
	return noContent(w)
}

type permissionJSON struct {
	User      string `json:"user"`
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

func (s *Server) listPermissions(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, []string{"user", "vhost"})
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	perms := s.b.Permissions("", "")
	all := make([]permissionJSON, len(perms))
	for i, x := range perms {
		all[i] = permissionJSON{x.User, x.VHost, x.Configure, x.Write, x.Read}
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(x permissionJSON) string { return x.User }, func(x permissionJSON, f string) string {
		if f == "vhost" {
			return x.VHost + "\x00" + x.User
		}
		return x.User + "\x00" + x.VHost
	}))
	return nil
}

// permissionPath reads {vhost} and {user}.
func permissionPath(r *http.Request) (string, string, error) {
	vh, err := pathName(r, "vhost", "virtual host")
	if err != nil {
		return "", "", err
	}
	u, err := pathName(r, "user", "user")
	return vh, u, err
}

func (s *Server) getPermission(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, user, err := permissionPath(r)
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	x, ok := s.b.PermissionOf(user, vh)
	if !ok {
		return notFound("user %q has no permissions in virtual host %q", user, vh)
	}
	writeJSON(w, http.StatusOK, permissionJSON{x.User, x.VHost, x.Configure, x.Write, x.Read})
	return nil
}

type putPermissionRequest struct {
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

func (s *Server) putPermission(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, user, err := permissionPath(r)
	if err != nil {
		return err
	}
	var req putPermissionRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	for _, x := range []struct{ what, re string }{{"configure", req.Configure}, {"write", req.Write}, {"read", req.Read}} {
		if err := access.ValidPattern(x.what, x.re); err != nil {
			return badRequest("%v", err)
		}
	}
	if err := s.admin(c); err != nil {
		return err
	}
	_, existed := s.b.PermissionOf(user, vh)
	if _, err := s.b.SetPermissions(r.Context(), broker.Permission{User: user, VHost: vh, Configure: req.Configure, Write: req.Write, Read: req.Read}); err != nil {
		return err
	}
	if existed {
		return noContent(w)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) deletePermission(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, user, err := permissionPath(r)
	if err != nil {
		return err
	}
	if err := s.admin(c); err != nil {
		return err
	}
	if _, err := s.b.ClearPermissions(r.Context(), user, vh); err != nil {
		return err
	}
	return noContent(w)
}
