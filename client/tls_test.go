package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// testPKI is a throwaway CA for the TLS tests (the SDK does not depend on
// Warren's certificate package, so neither do its tests).
type testPKI struct {
	pool *x509.CertPool
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{pool: pool, ca: ca, key: key}
}

// serverCert issues a server certificate valid for exactly the given names.
func (p *testPKI) serverCert(t *testing.T, ips []net.IP, dnsNames []string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "node"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLSFake serves fb with TLS only, presenting cert, on a loopback
// listener; it returns the port and a function stopping the server (also
// run at the end of the test).
func startTLSFake(t *testing.T, fb *fakeBroker, cert tls.Certificate) (port string, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	srv := grpc.NewServer(grpc.Creds(creds), grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             5 * time.Second,
		PermitWithoutStream: true,
	}))
	warrenpb.RegisterBrokerServiceServer(srv, fb)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Stop()
			<-served
		}
	}
	t.Cleanup(stop)
	_, port, _ = net.SplitHostPort(lis.Addr().String())
	return port, stop
}

var loopbackIP = []net.IP{net.IPv4(127, 0, 0, 1)}

func TestWithTLSConnectsAndCalls(t *testing.T) {
	pki := newTestPKI(t)
	port, _ := startTLSFake(t, newFakeBroker(), pki.serverCert(t, loopbackIP, nil))
	addr := net.JoinHostPort("127.0.0.1", port)
	cfg := &tls.Config{RootCAs: pki.pool}

	c, err := New(testCtx(t), []string{addr}, WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.DeclareQueue(testCtx(t), "jobs", QueueOptions{}); err != nil {
		t.Fatalf("DeclareQueue over TLS: %v", err)
	}
	if cfg.ServerName != "" || cfg.NextProtos != nil {
		t.Errorf("WithTLS changed the caller's config: ServerName %q, NextProtos %v", cfg.ServerName, cfg.NextProtos)
	}
}

func TestWithoutTLSFailsAgainstATLSNode(t *testing.T) {
	pki := newTestPKI(t)
	port, _ := startTLSFake(t, newFakeBroker(), pki.serverCert(t, loopbackIP, nil))
	addr := net.JoinHostPort("127.0.0.1", port)
	short := WithConnectTimeout(time.Second)

	if c, err := New(testCtx(t), []string{addr}, short); err == nil {
		_ = c.Close()
		t.Fatal("a plaintext client connected to a TLS-only node")
	}
	other := newTestPKI(t)
	if c, err := New(testCtx(t), []string{addr}, short, WithTLS(&tls.Config{RootCAs: other.pool})); err == nil {
		_ = c.Close()
		t.Fatal("a client trusting another CA connected")
	}
	if _, err := New(testCtx(t), []string{addr}, WithTLS(nil)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("WithTLS(nil): %v, want ErrInvalidArgument", err)
	}
}

// TestWithTLSChecksEachAddressByItsOwnName: one config without ServerName
// serves a client of two nodes whose certificates name them differently
// (one by IP address, one by DNS name): New, the direct-consume connection
// to another node, and a failover each check the address they dial.
func TestWithTLSChecksEachAddressByItsOwnName(t *testing.T) {
	pki := newTestPKI(t)
	portA, stopA := startTLSFake(t, newFakeBroker(), pki.serverCert(t, loopbackIP, nil))
	portB, _ := startTLSFake(t, newFakeBroker(), pki.serverCert(t, nil, []string{"localhost"}))
	addrA := net.JoinHostPort("127.0.0.1", portA) // A's certificate: IP 127.0.0.1 only
	addrB := net.JoinHostPort("localhost", portB) // B's certificate: DNS localhost only

	c, err := New(testCtx(t), []string{addrA, addrB}, WithTLS(&tls.Config{RootCAs: pki.pool}), fastBackoff)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Addr() != addrA {
		t.Fatalf("connected to %s, want %s", c.Addr(), addrA)
	}

	// The side connection direct consume opens to a leader.
	dc, err := c.directConn(testCtx(t), addrB)
	if err != nil {
		t.Fatalf("direct connection to %s: %v", addrB, err)
	}
	if _, err := dc.api.ListQueues(testCtx(t), &warrenpb.ListQueuesRequest{}); err != nil {
		t.Fatalf("call on the direct connection: %v", err)
	}

	stopA()
	if _, err := c.ListQueues(testCtx(t)); err != nil {
		t.Fatalf("ListQueues after A stopped: %v", err)
	}
	if c.Addr() != addrB {
		t.Fatalf("failed over to %s, want %s", c.Addr(), addrB)
	}

	// With ServerName set, every node is checked against that one name:
	// A's certificate does not name "localhost".
	portA2, _ := startTLSFake(t, newFakeBroker(), pki.serverCert(t, loopbackIP, nil))
	pinned := &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}
	if c2, err := New(testCtx(t), []string{net.JoinHostPort("127.0.0.1", portA2)}, WithTLS(pinned), WithConnectTimeout(time.Second)); err == nil {
		_ = c2.Close()
		t.Fatal("ServerName localhost accepted a certificate for 127.0.0.1 only")
	}
	if c3, err := New(testCtx(t), []string{net.JoinHostPort("127.0.0.1", portB)}, WithTLS(pinned)); err != nil {
		t.Fatalf("ServerName localhost against B by IP: %v", err)
	} else {
		_ = c3.Close()
	}
}
