package client

import (
	"context"
	"encoding/base64"
)

// callCredentials is the login and virtual host sent as metadata with
// every call (gRPC's per-RPC credentials): HTTP Basic in "authorization",
// the virtual host in "warren-vhost".
type callCredentials struct {
	md map[string]string
}

// newCallCredentials returns what o logs in with, or nil to send nothing
// (a client certificate names the user).
func newCallCredentials(o *options) *callCredentials {
	md := map[string]string{}
	switch {
	case o.credentialsSet:
		md["authorization"] = basic(o.user, o.password)
	case !o.clientCert:
		md["authorization"] = basic("guest", "guest")
	}
	if o.vhost != "" {
		md["warren-vhost"] = o.vhost
	}
	if len(md) == 0 {
		return nil
	}
	return &callCredentials{md: md}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func (c *callCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return c.md, nil
}

// RequireTransportSecurity is false so that loopback development works
// without TLS; beyond loopback a node refuses to run without TLS unless its
// operator says --insecure.
func (c *callCredentials) RequireTransportSecurity() bool { return false }
