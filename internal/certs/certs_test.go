package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a CA made by NewCA, with its PEM written to dir.
type testCA struct {
	certPEM, keyPEM []byte
	certFile        string
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	c, k, err := NewCA(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, path, c)
	return testCA{certPEM: c, keyPEM: k, certFile: path}
}

// issue makes a certificate of ca and writes it and its key to a fresh
// directory; it returns their paths.
func (ca testCA) issue(t *testing.T, o CertOptions) (certFile, keyFile string) {
	t.Helper()
	c, k, err := NewCert(ca.certPEM, ca.keyPEM, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	return certFile, keyFile
}

// nodeOptions describes a node certificate for loopback.
func nodeOptions(id string) CertOptions {
	return CertOptions{NodeID: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, f Files) *Identity {
	t.Helper()
	id, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	ca := newTestCA(t, "test CA")
	cert, key := ca.issue(t, nodeOptions("n1"))
	otherCert, _ := ca.issue(t, nodeOptions("n2"))
	expiredCert, expiredKey := ca.issue(t, CertOptions{CommonName: "old", Client: true, ValidFor: time.Nanosecond})
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("not PEM at all\n"))
	encrypted := filepath.Join(dir, "encrypted.pem")
	writeFile(t, encrypted, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))

	for _, tc := range []struct {
		name  string
		files Files
		want  []string // substrings of the error
	}{
		{"missing CA", Files{CA: missing}, []string{"CA file " + missing, "no such file"}},
		{"CA not PEM", Files{CA: garbage}, []string{"CA file " + garbage, "no PEM CERTIFICATE block"}},
		{"CA is a key", Files{CA: key}, []string{"CA file " + key, "PRIVATE KEY, not a CERTIFICATE"}},
		{"cert without key", Files{Cert: cert}, []string{cert, "give both or neither"}},
		{"key without cert", Files{Key: key}, []string{key, "give both or neither"}},
		{"missing cert", Files{Cert: missing, Key: key}, []string{"certificate file " + missing, "no such file"}},
		{"missing key", Files{Cert: cert, Key: missing}, []string{"key file " + missing, "no such file"}},
		{"swapped", Files{Cert: key, Key: cert}, []string{"certificate file " + key, "not a CERTIFICATE"}},
		{"key is a cert", Files{Cert: cert, Key: otherCert}, []string{"key file " + otherCert, "swapped with the certificate file"}},
		{"key of another cert", Files{Cert: otherCert, Key: key}, []string{"key file " + key, "does not go with certificate file " + otherCert}},
		{"encrypted key", Files{Cert: cert, Key: encrypted}, []string{"key file " + encrypted, "encrypted"}},
		{"expired", Files{Cert: expiredCert, Key: expiredKey}, []string{"certificate file " + expiredCert, "expired at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.files)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(Files{CA: missing}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v is not fs.ErrNotExist", err)
	}
}

func TestLoadNoFiles(t *testing.T) {
	// No files: a client of servers with publicly trusted certificates.
	id := mustLoad(t, Files{})
	cfg := id.ClientConfig()
	if cfg.RootCAs != nil || cfg.GetClientCertificate != nil {
		t.Errorf("ClientConfig without files: RootCAs %v, GetClientCertificate set %v; want system roots and no certificate",
			cfg.RootCAs, cfg.GetClientCertificate != nil)
	}
}

func TestNodeIDRoundTrip(t *testing.T) {
	ca := newTestCA(t, "test CA")
	for _, id := range []string{"n1", "node-a", "zone a/node 1?#%", "nœud-ü"} {
		c, _, err := NewCert(ca.certPEM, ca.keyPEM, CertOptions{NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := NodeID(parseCert(t, c))
		if !ok || got != id {
			t.Errorf("NodeID of a certificate for %q = %q, %v", id, got, ok)
		}
	}
	c, _, err := NewCert(ca.certPEM, ca.keyPEM, CertOptions{CommonName: "alice", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := NodeID(parseCert(t, c)); ok {
		t.Errorf("client certificate has node id %q", got)
	}
	if _, ok := NodeID(nil); ok {
		t.Error("nil certificate has a node id")
	}
	if _, ok := NodeID(parseCert(t, ca.certPEM)); ok {
		t.Error("CA certificate has a node id")
	}
}

func TestNodeIDRefusesAmbiguousSANs(t *testing.T) {
	for name, uris := range map[string][]string{
		"two ids":    {"warren-node:a", "warren-node:b"},
		"empty id":   {"warren-node:"},
		"other URI":  {"spiffe://example.org/node/a"},
		"bad escape": {"warren-node:a%zz"},
	} {
		var us []*url.URL
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			us = append(us, u)
		}
		if got, ok := NodeID(selfSigned(t, us)); ok {
			t.Errorf("%s: NodeID = %q, true; want false", name, got)
		}
	}
}

// selfSigned makes a throwaway certificate with the given URI SANs.
func selfSigned(t *testing.T, uris []*url.URL) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "x"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		URIs:         uris,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
