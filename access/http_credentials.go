package access

import (
	"net"
	"net/http"
	"net/netip"
)

// HTTPCredentials reads what an HTTP caller presented: Basic credentials,
// a verified client certificate's common name, its address. The HTTP
// endpoint (observe) and the management API (manage) both authenticate
// with it, so the two read a caller alike.
func HTTPCredentials(r *http.Request) Credentials {
	var c Credentials
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.Remote = net.TCPAddrFromAddrPort(ap)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		c.CertUser = r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	if user, pw, ok := r.BasicAuth(); ok && user != "" {
		c.User, c.Password = user, pw
	}
	return c
}
