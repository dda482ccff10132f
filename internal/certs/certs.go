package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"
)

// nodeScheme is the scheme of the URI SAN that makes a certificate a node
// certificate: "warren-node:<id>".
const nodeScheme = "warren-node"

// Files names the PEM files of a TLS identity. CA may be empty (no
// verification of peers by a private CA: system roots on the client side, no
// client certificates on the server side); Cert and Key go together (both or
// neither).
//
// CA holds one or more CERTIFICATE blocks (several during a CA rotation:
// the old and the new CA). Cert holds the certificate, optionally followed by
// intermediates; Key its private key, unencrypted (PKCS #8, SEC 1 or
// PKCS #1).
type Files struct{ CA, Cert, Key string }

// material is what one load of Files gives. Both parts are immutable once
// loaded; Identity swaps the whole value.
type material struct {
	pair *tls.Certificate // nil without Files.Cert
	pool *x509.CertPool   // nil without Files.CA
}

// load reads the files named by f, checking the certificate's validity
// period against now.
func (f Files) load(now time.Time) (*material, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("certs: certificate file %q and key file %q go together: give both or neither", f.Cert, f.Key)
	}
	m := &material{}
	if f.CA != "" {
		pool, err := loadCA(f.CA)
		if err != nil {
			return nil, err
		}
		m.pool = pool
	}
	if f.Cert != "" {
		pair, err := loadPair(f.Cert, f.Key, now)
		if err != nil {
			return nil, err
		}
		m.pair = pair
	}
	return m, nil
}

// readFile reads path; its error names the file by role and path.
func readFile(role, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("certs: %s file %s: %w", role, path, err)
	}
	return data, nil
}

// loadCA reads a CA bundle into a pool.
func loadCA(path string) (*x509.CertPool, error) {
	data, err := readFile("CA", path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("certs: CA file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// loadPair reads a certificate and its key, checks that they belong together
// and that the certificate is valid at now.
func loadPair(certPath, keyPath string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := readFile("certificate", certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile("key", keyPath)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate file %s: %w", certPath, err)
	}
	if _, err := keyBlock(keyPEM); err != nil {
		return nil, fmt.Errorf("certs: key file %s: %w", keyPath, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: key file %s does not go with certificate file %s: %w", keyPath, certPath, err)
	}
	leaf := certs[0]
	pair.Leaf = leaf
	switch {
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("certs: certificate file %s: not valid before %s (now %s; check the clock)",
			certPath, leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("certs: certificate file %s: expired at %s",
			certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// parseCertificates decodes every PEM block of data, which must all be
// certificates, and at least one.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

// keyBlock returns the first private-key PEM block of data; its error says
// what is wrong in terms a user can act on, before tls.X509KeyPair gives its
// terser errors.
func keyBlock(data []byte) (*pem.Block, error) {
	var types []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
				return nil, errors.New("the key is encrypted; give an unencrypted key (file mode 0600)")
			}
			return block, nil
		}
		types = append(types, block.Type)
	}
	if len(types) > 0 {
		return nil, fmt.Errorf("no PEM PRIVATE KEY block, only %s (swapped with the certificate file?)", strings.Join(types, ", "))
	}
	return nil, errors.New("no PEM PRIVATE KEY block")
}

// nodeURI is the URI SAN that names node id in a node certificate.
func nodeURI(id string) *url.URL {
	return &url.URL{Scheme: nodeScheme, Opaque: url.PathEscape(id)}
}

// NodeID returns the node id a node certificate carries (a URI SAN
// "warren-node:<id>"), and false when cert is not a node certificate: it has
// no such SAN, more than one, or an empty id.
func NodeID(cert *x509.Certificate) (string, bool) {
	if cert == nil {
		return "", false
	}
	id, found := "", false
	for _, u := range cert.URIs {
		if u.Scheme != nodeScheme {
			continue
		}
		if found {
			return "", false // two node ids name no node
		}
		v, err := url.PathUnescape(u.Opaque)
		if err != nil || v == "" {
			return "", false
		}
		id, found = v, true
	}
	return id, found
}
