package transport

import (
	"context"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
)

// AccessServer implements AccessService: users, permissions and virtual
// hosts. Who may call it is decided by the rules table (administrators, and
// anyone for WhoAmI) in the interceptors of the Server it belongs to.
type AccessServer struct {
	pb.UnimplementedAccessServiceServer
	s *Server
}

// AccessServer returns the AccessService of s (same broker, limits and
// interceptors).
func (s *Server) AccessServer() *AccessServer { return &AccessServer{s: s} }

// Register adds the service to a gRPC server.
func (a *AccessServer) Register(gs *grpc.Server) { pb.RegisterAccessServiceServer(gs, a) }

func (a *AccessServer) broker() *broker.Broker { return a.s.broker }

// WhoAmI implements AccessService.
func (a *AccessServer) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.WhoAmIResponse, error) {
	c, ok := callerOf(ctx)
	if !ok {
		return &pb.WhoAmIResponse{Vhost: defaultVHost}, nil // access is off
	}
	return &pb.WhoAmIResponse{User: c.user.Name, Tags: c.user.Tags, Vhost: c.vhost}, nil
}

// AddUser implements AccessService.
func (a *AccessServer) AddUser(ctx context.Context, r *pb.AddUserRequest) (*pb.AddUserResponse, error) {
	if err := a.s.limits.validateUser(r.GetName(), r.GetPassword(), r.GetTags()); err != nil {
		return nil, err
	}
	idx, err := a.broker().AddUser(ctx, r.GetName(), r.GetPassword(), r.GetTags())
	return &pb.AddUserResponse{MetaIndex: idx}, toStatus(err)
}

// DeleteUser implements AccessService.
func (a *AccessServer) DeleteUser(ctx context.Context, r *pb.DeleteUserRequest) (*pb.DeleteUserResponse, error) {
	if err := a.s.limits.checkName("user", r.GetName(), false); err != nil {
		return nil, err
	}
	idx, err := a.broker().DeleteUser(ctx, r.GetName())
	return &pb.DeleteUserResponse{MetaIndex: idx}, toStatus(err)
}

// ChangePassword implements AccessService.
func (a *AccessServer) ChangePassword(ctx context.Context, r *pb.ChangePasswordRequest) (*pb.ChangePasswordResponse, error) {
	if err := a.s.limits.validateUser(r.GetName(), r.GetPassword(), nil); err != nil {
		return nil, err
	}
	idx, err := a.broker().ChangePassword(ctx, r.GetName(), r.GetPassword())
	return &pb.ChangePasswordResponse{MetaIndex: idx}, toStatus(err)
}

// SetUserTags implements AccessService.
func (a *AccessServer) SetUserTags(ctx context.Context, r *pb.SetUserTagsRequest) (*pb.SetUserTagsResponse, error) {
	if err := a.s.limits.validateUser(r.GetName(), "", r.GetTags()); err != nil {
		return nil, err
	}
	idx, err := a.broker().SetUserTags(ctx, r.GetName(), r.GetTags())
	return &pb.SetUserTagsResponse{MetaIndex: idx}, toStatus(err)
}

// ListUsers implements AccessService.
func (a *AccessServer) ListUsers(ctx context.Context, r *pb.ListUsersRequest) (*pb.ListUsersResponse, error) {
	p, err := a.s.startList(ctx, checkPage(r.GetPageSize(), r.GetPageToken()), r)
	if err != nil {
		return nil, err
	}
	items, more := a.broker().UsersAfter(p.cursor, p.limit)
	resp := &pb.ListUsersResponse{}
	resp.Users, resp.NextPageToken = fillPage(items, more, func(u broker.User) *pb.User {
		return &pb.User{Name: u.Name, Tags: u.Tags}
	}, func(u broker.User) string { return u.Name })
	return resp, nil
}

// SetPermissions implements AccessService.
func (a *AccessServer) SetPermissions(ctx context.Context, r *pb.SetPermissionsRequest) (*pb.SetPermissionsResponse, error) {
	p := r.GetPermission()
	if err := a.s.limits.validatePermission(p); err != nil {
		return nil, err
	}
	idx, err := a.broker().SetPermissions(ctx, broker.Permission{
		User: p.GetUser(), VHost: p.GetVhost(), Configure: p.GetConfigure(), Write: p.GetWrite(), Read: p.GetRead(),
	})
	return &pb.SetPermissionsResponse{MetaIndex: idx}, toStatus(err)
}

// ClearPermissions implements AccessService.
func (a *AccessServer) ClearPermissions(ctx context.Context, r *pb.ClearPermissionsRequest) (*pb.ClearPermissionsResponse, error) {
	if err := a.s.limits.checkName("user", r.GetUser(), false); err != nil {
		return nil, err
	}
	if err := a.s.limits.checkName("virtual host", r.GetVhost(), false); err != nil {
		return nil, err
	}
	idx, err := a.broker().ClearPermissions(ctx, r.GetUser(), r.GetVhost())
	return &pb.ClearPermissionsResponse{MetaIndex: idx}, toStatus(err)
}

// ListPermissions implements AccessService.
func (a *AccessServer) ListPermissions(ctx context.Context, r *pb.ListPermissionsRequest) (*pb.ListPermissionsResponse, error) {
	invalid := checkPage(r.GetPageSize(), r.GetPageToken())
	if invalid == nil {
		invalid = a.s.limits.checkName("user", r.GetUser(), true)
	}
	if invalid == nil {
		invalid = a.s.limits.checkName("virtual host", r.GetVhost(), true)
	}
	p, err := a.s.startList(ctx, invalid, r)
	if err != nil {
		return nil, err
	}
	items, more := a.broker().PermissionsAfter(r.GetUser(), r.GetVhost(), p.cursor, p.limit)
	resp := &pb.ListPermissionsResponse{}
	resp.Permissions, resp.NextPageToken = fillPage(items, more, func(p broker.Permission) *pb.Permission {
		return &pb.Permission{User: p.User, Vhost: p.VHost, Configure: p.Configure, Write: p.Write, Read: p.Read}
	}, broker.PermissionCursor)
	return resp, nil
}

// AddVHost implements AccessService.
func (a *AccessServer) AddVHost(ctx context.Context, r *pb.AddVHostRequest) (*pb.AddVHostResponse, error) {
	if err := a.s.limits.checkName("virtual host", r.GetName(), false); err != nil {
		return nil, err
	}
	idx, err := a.broker().AddVHost(ctx, r.GetName())
	return &pb.AddVHostResponse{MetaIndex: idx}, toStatus(err)
}

// DeleteVHost implements AccessService.
func (a *AccessServer) DeleteVHost(ctx context.Context, r *pb.DeleteVHostRequest) (*pb.DeleteVHostResponse, error) {
	if err := a.s.limits.checkName("virtual host", r.GetName(), false); err != nil {
		return nil, err
	}
	idx, err := a.broker().DeleteVHost(ctx, r.GetName())
	return &pb.DeleteVHostResponse{MetaIndex: idx}, toStatus(err)
}

// ListVHosts implements AccessService.
func (a *AccessServer) ListVHosts(ctx context.Context, r *pb.ListVHostsRequest) (*pb.ListVHostsResponse, error) {
	p, err := a.s.startList(ctx, checkPage(r.GetPageSize(), r.GetPageToken()), r)
	if err != nil {
		return nil, err
	}
	items, more := a.broker().VHostsAfter(p.cursor, p.limit)
	resp := &pb.ListVHostsResponse{}
	// fillPage bounds the page's bytes; a vhost travels as a
	// SetVHostLimitsRequest (its name and limits) for it.
	entries, next := fillPage(items, more, func(v string) *pb.SetVHostLimitsRequest {
		l, _ := a.broker().VHostLimitsOf(v)
		return &pb.SetVHostLimitsRequest{Name: v, Limits: &pb.VHostLimits{MaxQueues: l.MaxQueues, MaxExchanges: l.MaxExchanges, MaxBindings: l.MaxBindings}}
	}, func(v string) string { return v })
	for _, e := range entries {
		resp.Vhosts = append(resp.Vhosts, e.GetName())
		resp.Limits = append(resp.Limits, e.GetLimits())
	}
	resp.NextPageToken = next
	return resp, nil
}

// SetVHostLimits implements AccessService.
func (a *AccessServer) SetVHostLimits(ctx context.Context, r *pb.SetVHostLimitsRequest) (*pb.SetVHostLimitsResponse, error) {
	if err := a.s.limits.checkName("virtual host", r.GetName(), false); err != nil {
		return nil, err
	}
	l := r.GetLimits()
	for _, f := range []struct {
		what string
		v    *int64
	}{{"max_queues", l.MaxQueues}, {"max_exchanges", l.MaxExchanges}, {"max_bindings", l.MaxBindings}} {
		if f.v != nil && *f.v < 0 {
			return nil, invalidf("%s is %d; give 0 or more, or leave it out for no limit", f.what, *f.v)
		}
	}
	idx, err := a.broker().SetVHostLimits(ctx, r.GetName(), broker.VHostLimits{
		MaxQueues: l.MaxQueues, MaxExchanges: l.MaxExchanges, MaxBindings: l.MaxBindings,
	})
	return &pb.SetVHostLimitsResponse{MetaIndex: idx}, toStatus(err)
}

// validateUser checks a user's name, password (when given) and tags.
func (l Limits) validateUser(name, password string, tags []string) error {
	if err := l.checkName("user", name, false); err != nil {
		return err
	}
	if len(password) > access.MaxPasswordBytes {
		return invalidf("password is %d bytes long; the limit is %d", len(password), access.MaxPasswordBytes)
	}
	if len(tags) > access.MaxTags {
		return invalidf("%d tags; the limit is %d", len(tags), access.MaxTags)
	}
	for _, t := range tags {
		if err := l.checkName("user tag", t, false); err != nil {
			return err
		}
	}
	return nil
}

// validatePermission checks a permission: user, virtual host and patterns.
func (l Limits) validatePermission(p *pb.Permission) error {
	if p == nil {
		return invalidf("permission is missing")
	}
	if err := l.checkName("user", p.GetUser(), false); err != nil {
		return err
	}
	if err := l.checkName("virtual host", p.GetVhost(), false); err != nil {
		return err
	}
	for _, f := range [...]struct{ what, re string }{
		{"configure permission", p.GetConfigure()}, {"write permission", p.GetWrite()}, {"read permission", p.GetRead()},
	} {
		if err := access.ValidPattern(f.what, f.re); err != nil {
			return invalidf("%v", err)
		}
	}
	return nil
}
