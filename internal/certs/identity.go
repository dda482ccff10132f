package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Errors of a handshake made without the files it needs.
var (
	errNoPair = errors.New("certs: no certificate loaded (Files.Cert and Files.Key are empty)")
	errNoCA   = errors.New("certs: no CA loaded to verify the peer with (Files.CA is empty)")
)

// Identity is a certificate pair and CA pool loaded from Files. Its configs
// read the current pair and pool on every handshake, so Reload (e.g. on
// SIGHUP) takes effect for new connections without a restart; established
// connections keep the certificates they were made with. The one exception is
// ClientConfig's RootCAs, taken when ClientConfig is called (crypto/tls checks
// the server's host name against RootCAs itself, and this keeps that check).
// Safe for concurrent use.
type Identity struct {
	files Files
	cur   atomic.Pointer[material]
}

// Load reads the files named by f. Its errors name the file and what is wrong
// with it (missing, not PEM, a key that does not go with the certificate, a
// certificate outside its validity period, …).
func Load(f Files) (*Identity, error) {
	m, err := f.load(time.Now())
	if err != nil {
		return nil, err
	}
	id := &Identity{files: f}
	id.cur.Store(m)
	return id, nil
}

// Reload reads the same files again and makes them current for new
// handshakes. When the new files are bad it keeps the old pair and pool, and
// its error says why.
func (id *Identity) Reload() error {
	m, err := id.files.load(time.Now())
	if err != nil {
		return fmt.Errorf("%w (kept the certificates loaded before)", err)
	}
	id.cur.Store(m)
	return nil
}

// ServerConfig returns a config for the server side: it presents the current
// pair (GetCertificate). With requireClientCert the client must present a
// certificate signed by the CA (RequireAndVerifyClientCert, with ClientCAs
// read at each handshake via GetConfigForClient; without a CA every client is
// refused); else client certificates are not asked for. TLS 1.2 is the
// minimum, 1.3 preferred. With requireClientCert, session tickets are off, so
// that every connection is verified against the CA current at its handshake.
func (id *Identity) ServerConfig(requireClientCert bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: id.getCertificate,
	}
	if !requireClientCert {
		return cfg
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.SessionTicketsDisabled = true
	cfg.GetConfigForClient = id.acceptWith(cfg, nil)
	return cfg
}

// acceptWith returns a GetConfigForClient that accepts with a copy of cfg
// whose ClientCAs is the CA pool current at this handshake, changed further
// by adjust when set.
func (id *Identity) acceptWith(cfg *tls.Config, adjust func(*tls.Config)) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := id.cur.Load()
		if m.pool == nil {
			return nil, errNoCA
		}
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = m.pool
		if adjust != nil {
			adjust(c)
		}
		return c, nil
	}
}

// ClientConfig returns a config for the client side: RootCAs is the CA pool
// current now (system roots when Files.CA is empty), and the current pair is
// presented (GetClientCertificate) when Files names one. ServerName is left
// empty: the dialer fills it from the address it dials (gRPC does), or the
// caller sets it.
func (id *Identity) ClientConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    id.cur.Load().pool,
	}
	if id.files.Cert != "" {
		cfg.GetClientCertificate = id.getClientCertificate
	}
	return cfg
}

// MutualConfig returns one config for both sides of a cluster link (the Raft
// port mux uses the same *tls.Config to accept and to dial). Both sides
// present the current pair, and verify the peer's chain against the current
// CA pool (RequireAndVerifyClientCert when accepting), and every peer
// certificate must be a node certificate (carry a node id, see NodeID): a
// client certificate of the same CA does not get onto the cluster port.
//
// Peers are named by node id, not by host name: the dialling side does not
// check the server's name or address against its certificate (crypto/tls's own
// check is off, InsecureSkipVerify, and VerifyConnection does the chain and
// node-id checks instead), so ServerName may stay empty. The caller compares
// NodeID(ConnectionState().PeerCertificates[0]) with the node it expects.
// Session tickets are off, so each connection is verified afresh.
func (id *Identity) MutualConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS12,
		GetCertificate:         id.getCertificate,
		GetClientCertificate:   id.getClientCertificate,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		SessionTicketsDisabled: true,
		// Only the dialling side reads these two: the accepting side runs
		// on the config GetConfigForClient returns.
		InsecureSkipVerify: true, // replaced by VerifyConnection: chain against the current CA, node id
		VerifyConnection:   id.verifyNodeServer,
	}
	cfg.GetConfigForClient = id.acceptWith(cfg, func(c *tls.Config) {
		c.InsecureSkipVerify = false
		c.VerifyConnection = requireNodeCert // crypto/tls verified the chain against ClientCAs
	})
	return cfg
}

func (id *Identity) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if p := id.cur.Load().pair; p != nil {
		return p, nil
	}
	return nil, errNoPair
}

func (id *Identity) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if p := id.cur.Load().pair; p != nil {
		return p, nil
	}
	return nil, errNoPair
}

// verifyNodeServer checks, on the dialling side of a cluster link, the
// server's chain against the current CA pool for server auth, and that it
// is a node certificate.
func (id *Identity) verifyNodeServer(cs tls.ConnectionState) error {
	pool := id.cur.Load().pool
	if pool == nil {
		return errNoCA
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: the peer presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("certs: peer certificate %q: %w", cs.PeerCertificates[0].Subject.CommonName, err)
	}
	return requireNodeCert(cs)
}

// requireNodeCert refuses a peer whose certificate carries no node id.
func requireNodeCert(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: the peer presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if _, ok := NodeID(leaf); !ok {
		return fmt.Errorf("certs: peer certificate %q is not a node certificate (no single %s: URI SAN)", leaf.Subject.CommonName, nodeScheme)
	}
	return nil
}

// OptionalClientCertConfig is the server side of a port where a client
// certificate is checked against the CA when one is presented but not
// required (the HTTP endpoint: a probe presents none, while a monitoring
// user may log in with one). With verify false, or no CA in Files, no
// client certificate is asked for.
func (id *Identity) OptionalClientCertConfig(verify bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: id.getCertificate,
	}
	if !verify || id.cur.Load().pool == nil {
		return cfg
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	cfg.SessionTicketsDisabled = true
	cfg.GetConfigForClient = id.acceptWith(cfg, nil)
	return cfg
}
