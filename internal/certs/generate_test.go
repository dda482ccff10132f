package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// near reports whether got is within a minute of want.
func near(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -time.Minute && d < time.Minute
}

func TestNewCA(t *testing.T) {
	for _, tc := range []struct {
		validFor, want time.Duration
	}{
		{0, 10 * 365 * 24 * time.Hour},
		{48 * time.Hour, 48 * time.Hour},
	} {
		certPEM, keyPEM, err := NewCA("Test CA", tc.validFor)
		if err != nil {
			t.Fatal(err)
		}
		ca := parseCert(t, certPEM)
		if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
			t.Errorf("CA constraints: IsCA %v, valid %v, MaxPathLen %d zero %v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
		}
		if ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("CA key usage %b lacks CertSign", ca.KeyUsage)
		}
		if ca.Subject.CommonName != "Test CA" {
			t.Errorf("CA common name %q", ca.Subject.CommonName)
		}
		if err := ca.CheckSignatureFrom(ca); err != nil {
			t.Errorf("CA is not self-signed: %v", err)
		}
		if !near(ca.NotAfter, time.Now().Add(tc.want)) || !ca.NotBefore.Before(time.Now()) {
			t.Errorf("validFor %v: valid %v to %v", tc.validFor, ca.NotBefore, ca.NotAfter)
		}
		block, _ := pem.Decode(keyPEM)
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("key PEM %q", keyPEM)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := key.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() || !ek.PublicKey.Equal(ca.PublicKey) {
			t.Errorf("CA key %T does not go with the certificate or is not P-256", key)
		}
	}
	if _, _, err := NewCA("", 0); err == nil {
		t.Error("empty common name accepted")
	}
	if _, _, err := NewCA("x", -time.Hour); err == nil {
		t.Error("negative validity accepted")
	}
}

func TestNewCertUsagesSANsAndValidity(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	caCert := parseCert(t, ca.certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	verifies := func(c *x509.Certificate, usage x509.ExtKeyUsage) bool {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err == nil
	}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	for _, tc := range []struct {
		name      string
		o         CertOptions
		cn        string
		usages    []x509.ExtKeyUsage
		nodeID    string
		validFor  time.Duration
		serves    bool // verifies for server auth
		authentic bool // verifies for client auth
	}{
		{"node", CertOptions{NodeID: "node-a", IPs: []net.IP{net.ParseIP("10.0.1.10"), net.ParseIP("127.0.0.1")}, DNSNames: []string{"a.warren.internal", "localhost"}},
			"node-a", both, "node-a", 825 * 24 * time.Hour, true, true},
		{"node with CN", CertOptions{NodeID: "n2", CommonName: "second node", ValidFor: 30 * 24 * time.Hour},
			"second node", both, "n2", 30 * 24 * time.Hour, true, true},
		{"client", CertOptions{CommonName: "alice", Client: true},
			"alice", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, "", 825 * 24 * time.Hour, false, true},
		{"server", CertOptions{CommonName: "api", Server: true, DNSNames: []string{"api.example"}, ValidFor: time.Hour},
			"api", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "", time.Hour, true, false},
		{"beyond the CA", CertOptions{CommonName: "long", Client: true, ValidFor: 100 * 365 * 24 * time.Hour},
			"long", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, "", time.Until(caCert.NotAfter), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := NewCert(ca.certPEM, ca.keyPEM, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			c := parseCert(t, certPEM)
			if c.Subject.CommonName != tc.cn {
				t.Errorf("common name %q, want %q", c.Subject.CommonName, tc.cn)
			}
			if !slices.Equal(c.ExtKeyUsage, tc.usages) {
				t.Errorf("extended key usages %v, want %v", c.ExtKeyUsage, tc.usages)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature || c.IsCA {
				t.Errorf("key usage %b, IsCA %v; want digital signature only, not a CA", c.KeyUsage, c.IsCA)
			}
			if id, ok := NodeID(c); id != tc.nodeID || ok != (tc.nodeID != "") {
				t.Errorf("NodeID = %q, %v; want %q", id, ok, tc.nodeID)
			}
			if len(c.IPAddresses) != len(tc.o.IPs) {
				t.Errorf("IP SANs %v, want %v", c.IPAddresses, tc.o.IPs)
			}
			for i, ip := range tc.o.IPs {
				if i < len(c.IPAddresses) && !c.IPAddresses[i].Equal(ip) {
					t.Errorf("IP SAN %d = %v, want %v", i, c.IPAddresses[i], ip)
				}
			}
			if !slices.Equal(c.DNSNames, tc.o.DNSNames) {
				t.Errorf("DNS SANs %v, want %v", c.DNSNames, tc.o.DNSNames)
			}
			for _, name := range tc.o.DNSNames {
				if err := c.VerifyHostname(name); err != nil {
					t.Errorf("VerifyHostname(%s): %v", name, err)
				}
			}
			if !near(c.NotAfter, time.Now().Add(tc.validFor)) || c.NotAfter.After(caCert.NotAfter) || !c.NotBefore.Before(time.Now()) {
				t.Errorf("valid %v to %v, want about %v from now and not past the CA (%v)", c.NotBefore, c.NotAfter, tc.validFor, caCert.NotAfter)
			}
			if got := verifies(c, x509.ExtKeyUsageServerAuth); got != tc.serves {
				t.Errorf("verifies for server auth: %v, want %v", got, tc.serves)
			}
			if got := verifies(c, x509.ExtKeyUsageClientAuth); got != tc.authentic {
				t.Errorf("verifies for client auth: %v, want %v", got, tc.authentic)
			}
			if !bytesContain(keyPEM, "PRIVATE KEY") {
				t.Errorf("key PEM %q", keyPEM)
			}
		})
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }

func TestNewCertRefusals(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	other := newTestCA(t, "Other CA")
	leafPEM, leafKey, err := NewCert(ca.certPEM, ca.keyPEM, CertOptions{CommonName: "alice", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		caCert, caKey []byte
		o             CertOptions
		want          string
	}{
		{"no name", ca.certPEM, ca.keyPEM, CertOptions{Client: true}, "common name or a node id"},
		{"no usage", ca.certPEM, ca.keyPEM, CertOptions{CommonName: "x"}, "client or server usage"},
		{"negative validity", ca.certPEM, ca.keyPEM, CertOptions{CommonName: "x", Client: true, ValidFor: -time.Hour}, "negative validity"},
		{"key of another CA", ca.certPEM, other.keyPEM, CertOptions{NodeID: "n1"}, "does not go with"},
		{"leaf as CA", leafPEM, leafKey, CertOptions{NodeID: "n1"}, "not a CA"},
		{"no key", ca.certPEM, nil, CertOptions{NodeID: "n1"}, "no PEM PRIVATE KEY"},
		{"swapped", ca.keyPEM, ca.certPEM, CertOptions{NodeID: "n1"}, "not a CERTIFICATE"},
	} {
		if _, _, err := NewCert(tc.caCert, tc.caKey, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
