package e2e_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/certs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tlsFiles writes a CA, a node certificate for each id (127.0.0.1) and a
// gossip key into dir, and returns the client's TLS config.
func tlsFiles(t *testing.T, dir string, ids ...string) *tls.Config {
	t.Helper()
	caPEM, caKey, err := certs.NewCA("e2e CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", caPEM)
	write("ca-key.pem", caKey)
	for _, id := range ids {
		cert, key, err := certs.NewCert(caPEM, caKey, certs.CertOptions{NodeID: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		write(id+".pem", cert)
		write(id+"-key.pem", key)
	}
	gossip := make([]byte, 32)
	_, _ = rand.Read(gossip)
	write("gossip.key", []byte(base64.StdEncoding.EncodeToString(gossip)))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// tlsFlags are a node's flags for TLS on both ports and gossip encryption.
func tlsFlags(dir, id string) []string {
	f := func(name string) string { return filepath.Join(dir, name) }
	return []string{
		"--tls-cert", f(id + ".pem"), "--tls-key", f(id + "-key.pem"),
		"--cluster-ca", f("ca.pem"), "--cluster-cert", f(id + ".pem"), "--cluster-key", f(id + "-key.pem"),
		"--gossip-key-file", f("gossip.key"),
	}
}

// TestProcessClusterOverTLS: three warren-node processes with TLS on the
// client API, mutual TLS on the cluster port and encrypted gossip form a
// cluster; a TLS client publishes through one node and consumes through
// another (forwarded and proxied over the cluster port). A plaintext
// client gets nothing. SIGHUP makes a node serve a renewed certificate
// without a restart.
func TestProcessClusterOverTLS(t *testing.T) {
	if nodeBinary == "" {
		t.Skip("no warren-node binary")
	}
	dir := t.TempDir()
	ids := []string{"n1", "n2", "n3"}
	clientTLS := tlsFiles(t, dir, ids...)
	withTLS := client.WithTLS(clientTLS)
	procs := make([]*nodeProc, len(ids))
	var join []string
	for i, id := range ids {
		procs[i] = newClusterProc(t, id)
		procs[i].clientOpts = []client.Option{withTLS}
		join = append(join, procs[i].gossipAddr)
	}
	for i, p := range procs {
		p.extra = append([]string{"--bootstrap-expect", "3", "--join", strings.Join(join, ","), "--zone", strconv.Itoa(i)}, tlsFlags(dir, p.id)...)
	}
	launchCluster(t, procs)

	producer := newClient(t, procs[1].grpcAddr, withTLS)
	consumer := newClient(t, procs[2].grpcAddr, withTLS)
	declareQueue(t, producer, "over-tls", nil)
	publishIDs(t, producer, "over-tls", "m", 20)
	sub := subscribe(t, consumer, "over-tls", client.ConsumeOptions{Prefetch: 5})
	for range 20 {
		d := recv(t, sub, 20*time.Second)
		if err := d.Ack(testCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}

	ctx := testCtx(t, 5*time.Second)
	plain, err := client.New(ctx, []string{procs[0].grpcAddr}, client.WithConnectTimeout(time.Second))
	if err == nil {
		_, err = plain.ListQueues(ctx)
		_ = plain.Close()
	}
	if err == nil {
		t.Fatal("a plaintext client was served by a TLS node")
	}
	if c := status.Code(err); c == codes.OK || c == codes.Internal {
		t.Fatalf("plaintext client: %v", err)
	}

	// Renew n1's certificate in place and send SIGHUP: new connections get
	// the new one.
	before := servedSerial(t, procs[0].grpcAddr, clientTLS)
	renewed := t.TempDir()
	tlsFilesSigned(t, dir, renewed, "n1")
	for _, name := range []string{"n1.pem", "n1-key.pem"} {
		b, err := os.ReadFile(filepath.Join(renewed, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := procs[0].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n1 serving its renewed certificate", func() error {
		if after := servedSerial(t, procs[0].grpcAddr, clientTLS); after == before {
			return errSameSerial
		}
		return nil
	})
}

var errSameSerial = errors.New("the same certificate is served")

// tlsFilesSigned writes into out a new certificate for id, signed by the CA
// that tlsFiles wrote into dir.
func tlsFilesSigned(t *testing.T, dir, out, id string) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := certs.NewCert(caPEM, caKey, certs.CertOptions{NodeID: id, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, id+".pem"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, id+"-key.pem"), key, 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial number of the certificate addr serves.
func servedSerial(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c := cfg.Clone()
	c.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
