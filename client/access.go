package client

import (
	"context"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// Users, permissions and virtual hosts (RabbitMQ's model). Every call but
// WhoAmI needs a user with the administrator tag; a refusal is
// PermissionDenied naming what is missing.

// Identity is who the client is logged in as.
type Identity struct {
	User  string
	Tags  []string
	VHost string
}

// User is a user of the cluster.
type User struct {
	Name string
	Tags []string
}

// Permission is what a user may do in a virtual host: regular expressions
// (RE2, unanchored) over queue and exchange names; "" permits nothing, ".*"
// everything. Configure covers declaring and deleting, write publishing and
// binding a queue, read consuming, getting, purging and binding from an
// exchange.
type Permission struct {
	User, VHost            string
	Configure, Write, Read string
}

func (c *Client) accessCall(ctx context.Context, p retryPolicy, f func(context.Context, warrenpb.AccessServiceClient) error) error {
	return c.call(ctx, p, func(ctx context.Context, cn *conn) error {
		return f(ctx, warrenpb.NewAccessServiceClient(cn.cc))
	})
}

// metaWrite runs an access write and notes its meta index, so the
// client's next read sees it on any node.
func (c *Client) metaWrite(ctx context.Context, f func(context.Context, warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error)) error {
	return c.accessCall(ctx, retryUnsent, func(ctx context.Context, a warrenpb.AccessServiceClient) error {
		resp, err := f(ctx, a)
		if err == nil {
			c.observeMetaIndex(resp.GetMetaIndex())
		}
		return err
	})
}

// WhoAmI returns who the node authenticated the client as.
func (c *Client) WhoAmI(ctx context.Context) (Identity, error) {
	var resp *warrenpb.WhoAmIResponse
	err := c.accessCall(ctx, retryUnavailable, func(ctx context.Context, a warrenpb.AccessServiceClient) (err error) {
		resp, err = a.WhoAmI(ctx, &warrenpb.WhoAmIRequest{})
		return err
	})
	return Identity{User: resp.GetUser(), Tags: resp.GetTags(), VHost: resp.GetVhost()}, err
}

// AddUser creates a user. An empty password makes a user who can log in
// only with a client certificate naming it.
func (c *Client) AddUser(ctx context.Context, name, password string, tags []string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.AddUser(ctx, &warrenpb.AddUserRequest{Name: name, Password: password, Tags: tags})
	})
}

// DeleteUser deletes a user and its permissions.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.DeleteUser(ctx, &warrenpb.DeleteUserRequest{Name: name})
	})
}

// ChangePassword replaces a user's password.
func (c *Client) ChangePassword(ctx context.Context, name, password string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.ChangePassword(ctx, &warrenpb.ChangePasswordRequest{Name: name, Password: password})
	})
}

// SetUserTags replaces a user's tags (administrator, monitoring, or any
// of your own).
func (c *Client) SetUserTags(ctx context.Context, name string, tags []string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.SetUserTags(ctx, &warrenpb.SetUserTagsRequest{Name: name, Tags: tags})
	})
}

// ListUsers lists every user, following pages.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	users, err := allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]*warrenpb.User, string, error) {
		resp, err := warrenpb.NewAccessServiceClient(cn.cc).ListUsers(ctx, &warrenpb.ListUsersRequest{MinMetaIndex: c.MetaIndex(), PageToken: token})
		return resp.GetUsers(), resp.GetNextPageToken(), err
	})
	out := make([]User, 0, len(users))
	for _, u := range users {
		out = append(out, User{Name: u.GetName(), Tags: u.GetTags()})
	}
	return out, err
}

// SetPermissions sets a user's permissions in a virtual host; the user's
// connected clients are held to them from their next call.
func (c *Client) SetPermissions(ctx context.Context, p Permission) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.SetPermissions(ctx, &warrenpb.SetPermissionsRequest{Permission: &warrenpb.Permission{
			User: p.User, Vhost: p.VHost, Configure: p.Configure, Write: p.Write, Read: p.Read,
		}})
	})
}

// ClearPermissions removes a user's permissions in a virtual host.
func (c *Client) ClearPermissions(ctx context.Context, user, vhost string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.ClearPermissions(ctx, &warrenpb.ClearPermissionsRequest{User: user, Vhost: vhost})
	})
}

// ListPermissions lists permissions, of one user and/or virtual host when
// given ("" for all), following pages.
func (c *Client) ListPermissions(ctx context.Context, user, vhost string) ([]Permission, error) {
	perms, err := allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]*warrenpb.Permission, string, error) {
		resp, err := warrenpb.NewAccessServiceClient(cn.cc).ListPermissions(ctx, &warrenpb.ListPermissionsRequest{
			MinMetaIndex: c.MetaIndex(), User: user, Vhost: vhost, PageToken: token,
		})
		return resp.GetPermissions(), resp.GetNextPageToken(), err
	})
	out := make([]Permission, 0, len(perms))
	for _, p := range perms {
		out = append(out, Permission{User: p.GetUser(), VHost: p.GetVhost(), Configure: p.GetConfigure(), Write: p.GetWrite(), Read: p.GetRead()})
	}
	return out, err
}

// AddVHost creates a virtual host.
func (c *Client) AddVHost(ctx context.Context, name string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.AddVHost(ctx, &warrenpb.AddVHostRequest{Name: name})
	})
}

// DeleteVHost deletes a virtual host and the permissions in it.
func (c *Client) DeleteVHost(ctx context.Context, name string) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.DeleteVHost(ctx, &warrenpb.DeleteVHostRequest{Name: name})
	})
}

// ListVHosts lists every virtual host, following pages.
func (c *Client) ListVHosts(ctx context.Context) ([]string, error) {
	return allPages(ctx, c, func(ctx context.Context, cn *conn, token string) ([]string, string, error) {
		resp, err := warrenpb.NewAccessServiceClient(cn.cc).ListVHosts(ctx, &warrenpb.ListVHostsRequest{MinMetaIndex: c.MetaIndex(), PageToken: token})
		return resp.GetVhosts(), resp.GetNextPageToken(), err
	})
}

// VHostLimits are a virtual host's limits; nil is no limit.
type VHostLimits struct {
	MaxQueues, MaxExchanges, MaxBindings *int64
}

// SetVHostLimits replaces a virtual host's limits (RabbitMQ's max-queues,
// and max-exchanges and max-bindings). A declaration past one fails with
// ResourceExhausted naming it.
func (c *Client) SetVHostLimits(ctx context.Context, vhost string, l VHostLimits) error {
	return c.metaWrite(ctx, func(ctx context.Context, a warrenpb.AccessServiceClient) (interface{ GetMetaIndex() uint64 }, error) {
		return a.SetVHostLimits(ctx, &warrenpb.SetVHostLimitsRequest{Name: vhost, Limits: &warrenpb.VHostLimits{
			MaxQueues: l.MaxQueues, MaxExchanges: l.MaxExchanges, MaxBindings: l.MaxBindings,
		}})
	})
}
