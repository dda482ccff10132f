package transport

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/warrenmq/warren/access"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Access is a server's authentication and authorization. A Server without
// one (SetAccess not called) lets every call through: that is the
// cluster port's server, whose callers are peers its TLS authenticated,
// and in-process tests'.
type Access struct {
	Authenticator *access.Authenticator
	Authorizer    *access.Authorizer
}

// The metadata a client sends: HTTP Basic credentials (the SDK's
// WithCredentials) and the virtual host (WithVHost; "/" when absent).
const (
	authorizationHeader = "authorization"
	vhostHeader         = "warren-vhost"
	defaultVHost        = "/"
)

// caller is who an authorized call runs for, in its context.
type caller struct {
	user  access.User
	vhost string
}

type callerKey struct{}

func callerOf(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// SetAccess turns on authentication and authorization for every call of
// the services registered on a gRPC server built with Interceptors.
func (s *Server) SetAccess(a Access) { s.access = &a }

// Interceptors returns the server options that authenticate and authorize
// every call (one check per call, by the rules table) when SetAccess was
// called, and let every call through otherwise.
func (s *Server) Interceptors() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(s.unaryAccess), grpc.ChainStreamInterceptor(s.streamAccess)}
}

func (s *Server) unaryAccess(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAccess(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod, nil)
	if err != nil {
		return err
	}
	if s.access == nil {
		return handler(srv, ss)
	}
	return handler(srv, &authorizedStream{ServerStream: ss, ctx: ctx, s: s})
}

// authorizedStream checks each message of a stream as its own request
// (a Subscribe needs read on its queue).
type authorizedStream struct {
	grpc.ServerStream
	ctx context.Context
	s   *Server
}

func (a *authorizedStream) Context() context.Context { return a.ctx }

func (a *authorizedStream) RecvMsg(m any) error {
	if err := a.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	r, ok := m.(*pb.ConsumeRequest)
	if !ok {
		return nil
	}
	c, _ := callerOf(a.ctx)
	return toStatus(a.s.access.Authorizer.Authorize(c.user, c.vhost, consumeNeeds(r)...))
}

// authorize authenticates the caller of method and checks what req needs
// (rules), returning the context the handler runs in.
func (s *Server) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	if s.access == nil || publicMethods[method] {
		return ctx, nil
	}
	rule, ok := rules[method]
	if !ok {
		return nil, toStatus(access.ErrDenied) // fail closed: TestEveryMethodHasARule
	}
	vhost, err := s.vhostOf(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.access.Authenticator.Authenticate(ctx, credentialsOf(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.access.Authorizer.Authorize(u, vhost, rule(req)...); err != nil {
		return nil, toStatus(err)
	}
	return context.WithValue(ctx, callerKey{}, caller{user: u, vhost: vhost}), nil
}

// callVHost is the virtual host of a call: the one the interceptors
// authorized or, with access off, the one the client named.
func (s *Server) callVHost(ctx context.Context) (string, error) {
	if c, ok := callerOf(ctx); ok {
		return c.vhost, nil
	}
	return s.vhostOf(ctx)
}

// withVHost carries vhost to a call this node makes for its client (a
// proxied consume or get).
func withVHost(ctx context.Context, vhost string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, vhostHeader, vhost)
}

// vhostOf reads the virtual host the client chose.
func (s *Server) vhostOf(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(vhostHeader)
	switch {
	case len(v) == 0:
		return defaultVHost, nil
	case len(v) > 1:
		return "", invalidf("%s given %d times", vhostHeader, len(v))
	}
	return v[0], s.limits.checkName("virtual host", v[0], false)
}

// credentialsOf reads what the client presented: Basic credentials from
// the metadata, a verified client certificate's common name, its address.
func credentialsOf(ctx context.Context) access.Credentials {
	var c access.Credentials
	if p, ok := peer.FromContext(ctx); ok {
		c.Remote = p.Addr
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			c.CertUser = ti.State.VerifiedChains[0][0].Subject.CommonName
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(authorizationHeader); len(v) == 1 {
		if raw, ok := strings.CutPrefix(v[0], "Basic "); ok {
			if dec, err := base64.StdEncoding.DecodeString(raw); err == nil {
				if user, pw, ok := strings.Cut(string(dec), ":"); ok && user != "" {
					c.User, c.Password = user, pw
				}
			}
		}
	}
	return c
}
