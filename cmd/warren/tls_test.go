package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/warrenmq/warren/internal/certs"
	"github.com/warrenmq/warren/transport/warrenpb"
)

// warrenEnv runs the CLI with args and the environment env.
func warrenEnv(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// makePKI runs `warren tls` to make a CA in dir/ca, a certificate for node
// n1 and one for client alice in dir/certs.
func makePKI(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{
		{"tls", "ca", "create", "--dir", filepath.Join(dir, "ca")},
		{"tls", "cert", "create", "--ca-dir", filepath.Join(dir, "ca"), "--node", "n1", "--out-dir", filepath.Join(dir, "certs")},
		{"tls", "cert", "create", "--ca", filepath.Join(dir, "ca", caCertFile), "--ca-key", filepath.Join(dir, "ca", caKeyFile),
			"--client", "alice", "--out-dir", filepath.Join(dir, "certs")},
	} {
		if code, _, stderr := warrenEnv(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d, %s", args, code, stderr)
		}
	}
}

func TestTLSCreateWritesCAAndCertificates(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	code, out, stderr := warrenEnv(t, nil, "tls", "ca", "create", "--dir", caDir, "--common-name", "Test CA", "--days", "30", "-o", "json")
	if code != 0 {
		t.Fatalf("ca create: exit %d, %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["cert"] != filepath.Join(caDir, caCertFile) {
		t.Fatalf("ca create -o json: %q, %v", out, err)
	}
	ca := readCert(t, filepath.Join(caDir, caCertFile))
	if !ca.IsCA || ca.Subject.CommonName != "Test CA" || time.Until(ca.NotAfter) > 31*24*time.Hour {
		t.Errorf("CA: IsCA %v, CN %q, not after %v", ca.IsCA, ca.Subject.CommonName, ca.NotAfter)
	}
	checkMode(t, filepath.Join(caDir, caKeyFile), 0o600)

	// Never overwritten.
	code, _, stderr = warrenEnv(t, nil, "tls", "ca", "create", "--dir", caDir)
	if code != 1 || !strings.Contains(stderr, filepath.Join(caDir, caCertFile)+" already exists") {
		t.Errorf("second ca create: exit %d, %q; want 1 naming the file", code, stderr)
	}
	if again := readCert(t, filepath.Join(caDir, caCertFile)); !again.Equal(ca) {
		t.Error("second ca create replaced the CA")
	}

	outDir := filepath.Join(dir, "out")
	// A node certificate with the defaults: 127.0.0.1 and localhost.
	if code, _, stderr := warrenEnv(t, nil, "tls", "cert", "create", "--ca-dir", caDir, "--node", "node-a", "--out-dir", outDir); code != 0 {
		t.Fatalf("cert create --node: exit %d, %s", code, stderr)
	}
	a := readCert(t, filepath.Join(outDir, "node-a.pem"))
	if id, ok := certs.NodeID(a); !ok || id != "node-a" {
		t.Errorf("node certificate carries node id %q, %v", id, ok)
	}
	if len(a.IPAddresses) != 1 || !a.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !slices.Equal(a.DNSNames, []string{"localhost"}) {
		t.Errorf("default SANs: IPs %v, DNS %v; want 127.0.0.1 and localhost", a.IPAddresses, a.DNSNames)
	}
	if !slices.Contains(a.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(a.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("node certificate usages %v, want server and client", a.ExtKeyUsage)
	}
	if err := a.CheckSignatureFrom(ca); err != nil {
		t.Errorf("node certificate not signed by the CA: %v", err)
	}
	if !a.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("node certificate valid until %v, want cut at the CA's expiry %v", a.NotAfter, ca.NotAfter)
	}
	checkMode(t, filepath.Join(outDir, "node-a-key.pem"), 0o600)

	// Given addresses replace the defaults.
	if code, _, stderr := warrenEnv(t, nil, "tls", "cert", "create", "--ca-dir", caDir, "--node", "node-b",
		"--ip", "10.0.2.10", "--ip", "::1", "--dns", "b.warren.internal", "--days", "7", "--out-dir", outDir); code != 0 {
		t.Fatalf("cert create --node --ip --dns: exit %d, %s", code, stderr)
	}
	b := readCert(t, filepath.Join(outDir, "node-b.pem"))
	if len(b.IPAddresses) != 2 || !b.IPAddresses[0].Equal(net.ParseIP("10.0.2.10")) || !b.IPAddresses[1].Equal(net.IPv6loopback) ||
		!slices.Equal(b.DNSNames, []string{"b.warren.internal"}) {
		t.Errorf("SANs: IPs %v, DNS %v", b.IPAddresses, b.DNSNames)
	}
	if d := time.Until(b.NotAfter); d > 7*24*time.Hour || d < 7*24*time.Hour-time.Hour {
		t.Errorf("--days 7: valid until %v", b.NotAfter)
	}

	// A client certificate.
	if code, _, stderr := warrenEnv(t, nil, "tls", "cert", "create", "--ca", filepath.Join(caDir, caCertFile),
		"--ca-key", filepath.Join(caDir, caKeyFile), "--client", "alice", "--out-dir", outDir); code != 0 {
		t.Fatalf("cert create --client: exit %d, %s", code, stderr)
	}
	alice := readCert(t, filepath.Join(outDir, "alice.pem"))
	if _, ok := certs.NodeID(alice); ok || alice.Subject.CommonName != "alice" ||
		!slices.Equal(alice.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(alice.IPAddresses)+len(alice.DNSNames) != 0 {
		t.Errorf("client certificate: CN %q, usages %v, SANs %v %v", alice.Subject.CommonName, alice.ExtKeyUsage, alice.IPAddresses, alice.DNSNames)
	}
	code, _, stderr = warrenEnv(t, nil, "tls", "cert", "create", "--ca-dir", caDir, "--client", "alice", "--out-dir", outDir)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second cert create: exit %d, %q", code, stderr)
	}

	// A missing CA is a failure naming the file.
	code, _, stderr = warrenEnv(t, nil, "tls", "cert", "create", "--ca-dir", filepath.Join(dir, "none"), "--node", "x", "--out-dir", outDir)
	if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "none", caCertFile)) {
		t.Errorf("missing CA: exit %d, %q", code, stderr)
	}
}

func TestTLSUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"tls", "ca", "create", "--days", "0"},
		{"tls", "ca", "create", "--common-name", ""},
		{"tls", "ca", "create", "extra"},
		{"tls", "cert", "create", "--ca-dir", dir},
		{"tls", "cert", "create", "--ca-dir", dir, "--node", "a", "--client", "b"},
		{"tls", "cert", "create", "--node", "a"},
		{"tls", "cert", "create", "--ca", "ca.pem", "--node", "a"},
		{"tls", "cert", "create", "--ca-dir", dir, "--ca", "ca.pem", "--ca-key", "k.pem", "--node", "a"},
		{"tls", "cert", "create", "--ca-dir", dir, "--client", "b", "--ip", "127.0.0.1"},
		{"tls", "cert", "create", "--ca-dir", dir, "--client", "b", "--dns", "localhost"},
		{"tls", "cert", "create", "--ca-dir", dir, "--node", "a", "--ip", "not-an-ip"},
		{"tls", "cert", "create", "--ca-dir", dir, "--node", "../a"},
		{"tls", "cert", "create", "--ca-dir", dir, "--node", "a", "--days", "-1"},
		{"tls", "bogus"},
		{"--tls-key", "k.pem", "queue", "list"},
		{"--tls-cert", "c.pem", "queue", "list"},
		{"--tls-server-name", "localhost", "queue", "list"},
	} {
		code, _, stderr := warrenEnv(t, nil, args...)
		if code != 2 || !strings.HasPrefix(stderr, "warren: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a warren: message", args, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors wrote files: %v", entries)
	}
}

// startMemTLS serves b with TLS configured by cfg on a loopback listener
// until the test ends.
func startMemTLS(t *testing.T, b *memBroker, cfg *certs.Identity) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg.ServerConfig(true))))
	warrenpb.RegisterBrokerServiceServer(srv, b)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	return lis.Addr().String()
}

func TestCLIOverTLS(t *testing.T) {
	dir := t.TempDir()
	makePKI(t, dir)
	ca := filepath.Join(dir, "ca", caCertFile)
	node, err := certs.Load(certs.Files{CA: ca, Cert: filepath.Join(dir, "certs", "n1.pem"), Key: filepath.Join(dir, "certs", "n1-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	addr := startMemTLS(t, newMemBroker(), node)
	alice := []string{"--tls-cert", filepath.Join(dir, "certs", "alice.pem"), "--tls-key", filepath.Join(dir, "certs", "alice-key.pem")}

	// Flags.
	args := append([]string{"--server", addr, "--tls-ca", ca}, alice...)
	if code, out, stderr := warrenEnv(t, nil, append(args, "queue", "declare", "jobs")...); code != 0 || out != "jobs\n" {
		t.Fatalf("queue declare over TLS: exit %d, %q, %s", code, out, stderr)
	}
	// The environment.
	env := map[string]string{
		"WARREN_SERVER":   addr,
		"WARREN_TLS_CA":   ca,
		"WARREN_TLS_CERT": alice[1],
		"WARREN_TLS_KEY":  alice[3],
	}
	if code, out, stderr := warrenEnv(t, env, "queue", "list"); code != 0 || !strings.Contains(out, "jobs") {
		t.Fatalf("queue list over TLS from the environment: exit %d, %q, %s", code, out, stderr)
	}
	// The name checked can be set (the node's certificate names localhost).
	if code, _, stderr := warrenEnv(t, env, "--tls-server-name", "localhost", "queue", "list"); code != 0 {
		t.Fatalf("--tls-server-name localhost: exit %d, %s", code, stderr)
	}
	if code, _, _ := warrenEnv(t, env, "--tls-server-name", "elsewhere.example", "--timeout", "3s", "queue", "list"); code != 1 {
		t.Fatalf("--tls-server-name for another name: exit %d, want 1", code)
	}
	// Plaintext, or TLS without the client certificate the node requires,
	// fails.
	if code, _, _ := warrenEnv(t, nil, "--server", addr, "--timeout", "3s", "queue", "list"); code != 1 {
		t.Fatalf("plaintext against a TLS node: exit %d, want 1", code)
	}
	if code, _, _ := warrenEnv(t, nil, "--server", addr, "--tls-ca", ca, "--timeout", "3s", "queue", "list"); code != 1 {
		t.Fatalf("no client certificate: exit %d, want 1", code)
	}
	// A bad file is a failure naming it.
	code, _, stderr := warrenEnv(t, nil, "--server", addr, "--tls-ca", filepath.Join(dir, "nope.pem"), "queue", "list")
	if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "nope.pem")) {
		t.Fatalf("missing --tls-ca file: exit %d, %q", code, stderr)
	}
}
