package certs

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between srv and cli over a loopback TCP
// connection (buffered, unlike net.Pipe, so that a side that gives up
// mid-flight can still send its alert), and a one-byte exchange after it (with
// TLS 1.3 the client finishes its handshake before the server has checked
// the client's certificate, so a refusal shows on the client's first read).
// It returns the state each side saw and the error of each side.
func handshake(t *testing.T, srv, cli *tls.Config) (srvState, cliState tls.ConnectionState, srvErr, cliErr error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lis.Close() }()
	c2, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c1, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	_ = c1.SetDeadline(deadline)
	_ = c2.SetDeadline(deadline)
	type result struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		s := tls.Server(c1, srv)
		defer func() { _ = c1.Close() }()
		if err := s.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		_, err := s.Write([]byte{'x'})
		done <- result{err: err, state: s.ConnectionState()}
	}()
	c := tls.Client(c2, cli)
	cliErr = c.Handshake()
	if cliErr == nil {
		var b [1]byte
		_, cliErr = c.Read(b[:])
		cliState = c.ConnectionState()
	}
	_ = c2.Close()
	r := <-done
	t.Logf("handshake: server error %v; client error %v", r.err, cliErr)
	return r.state, cliState, r.err, cliErr
}

// clientFor is a ClientConfig of f that checks the server name "localhost".
func clientFor(t *testing.T, f Files) *tls.Config {
	t.Helper()
	cfg := mustLoad(t, f).ClientConfig()
	cfg.ServerName = "localhost"
	return cfg
}

func TestServerConfigRequiresClientCertOfTheCA(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	other := newTestCA(t, "other CA")
	srvCert, srvKey := ca.issue(t, nodeOptions("n1"))
	aliceCert, aliceKey := ca.issue(t, CertOptions{CommonName: "alice", Client: true})
	malloryCert, malloryKey := other.issue(t, CertOptions{CommonName: "mallory", Client: true})
	srv := mustLoad(t, Files{CA: ca.certFile, Cert: srvCert, Key: srvKey}).ServerConfig(true)

	if _, _, srvErr, cliErr := handshake(t, srv, clientFor(t, Files{CA: ca.certFile})); srvErr == nil || cliErr == nil {
		t.Errorf("client without a certificate: server error %v, client error %v; want both refused", srvErr, cliErr)
	} else if !strings.Contains(srvErr.Error(), "certificate") {
		t.Errorf("server error %q does not mention the certificate", srvErr)
	}
	if _, _, srvErr, cliErr := handshake(t, srv, clientFor(t, Files{CA: ca.certFile, Cert: malloryCert, Key: malloryKey})); srvErr == nil || cliErr == nil {
		t.Errorf("client certificate of another CA: server error %v, client error %v; want both refused", srvErr, cliErr)
	}
	st, _, srvErr, cliErr := handshake(t, srv, clientFor(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey}))
	if srvErr != nil || cliErr != nil {
		t.Fatalf("client certificate of the CA: server error %v, client error %v", srvErr, cliErr)
	}
	if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Errorf("server saw peer certificates %v, want alice's", st.PeerCertificates)
	}
	if st.Version < tls.VersionTLS13 {
		t.Errorf("negotiated TLS version %x, want 1.3", st.Version)
	}
	old := clientFor(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey})
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, _, srvErr, _ := handshake(t, srv, old); srvErr == nil {
		t.Error("server accepted TLS 1.1")
	}
	tls12 := clientFor(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey})
	tls12.MaxVersion = tls.VersionTLS12
	if _, _, srvErr, cliErr := handshake(t, srv, tls12); srvErr != nil || cliErr != nil {
		t.Errorf("TLS 1.2: server error %v, client error %v", srvErr, cliErr)
	}
}

func TestServerConfigWithoutClientCerts(t *testing.T) {
	ca := newTestCA(t, "CA")
	other := newTestCA(t, "other CA")
	srvCert, srvKey := ca.issue(t, CertOptions{CommonName: "server", Server: true, DNSNames: []string{"localhost"}})
	aliceCert, aliceKey := ca.issue(t, CertOptions{CommonName: "alice", Client: true})
	srv := mustLoad(t, Files{Cert: srvCert, Key: srvKey}).ServerConfig(false)

	st, _, srvErr, cliErr := handshake(t, srv, clientFor(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey}))
	if srvErr != nil || cliErr != nil {
		t.Fatalf("server error %v, client error %v", srvErr, cliErr)
	}
	if len(st.PeerCertificates) != 0 {
		t.Errorf("server without client CA got a client certificate")
	}
	if _, _, _, cliErr := handshake(t, srv, clientFor(t, Files{CA: other.certFile})); cliErr == nil {
		t.Error("client trusting another CA accepted the server")
	}
	wrongName := mustLoad(t, Files{CA: ca.certFile}).ClientConfig()
	wrongName.ServerName = "elsewhere.example"
	if _, _, _, cliErr := handshake(t, srv, wrongName); cliErr == nil {
		t.Error("client accepted a certificate for another host name")
	}
}

func TestServerConfigWithoutCARefusesClients(t *testing.T) {
	ca := newTestCA(t, "CA")
	srvCert, srvKey := ca.issue(t, nodeOptions("n1"))
	aliceCert, aliceKey := ca.issue(t, CertOptions{CommonName: "alice", Client: true})
	// requireClientCert without a CA must not fall back to the system roots.
	srv := mustLoad(t, Files{Cert: srvCert, Key: srvKey}).ServerConfig(true)
	if _, _, srvErr, _ := handshake(t, srv, clientFor(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey})); srvErr == nil {
		t.Error("server without a client CA accepted a client")
	}
}

func TestMutualConfig(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	other := newTestCA(t, "other CA")
	n1Cert, n1Key := ca.issue(t, CertOptions{NodeID: "n1"}) // no SANs: peers are named by node id
	n2Cert, n2Key := ca.issue(t, CertOptions{NodeID: "n2"})
	aliceCert, aliceKey := ca.issue(t, CertOptions{CommonName: "alice", Client: true})
	webCert, webKey := ca.issue(t, CertOptions{CommonName: "web", Server: true, Client: true, DNSNames: []string{"localhost"}})
	strangerCert, strangerKey := other.issue(t, CertOptions{NodeID: "n3"})

	n1 := mustLoad(t, Files{CA: ca.certFile, Cert: n1Cert, Key: n1Key}).MutualConfig()
	n2 := mustLoad(t, Files{CA: ca.certFile, Cert: n2Cert, Key: n2Key}).MutualConfig()

	srvSt, cliSt, srvErr, cliErr := handshake(t, n1, n2)
	if srvErr != nil || cliErr != nil {
		t.Fatalf("node to node: server error %v, client error %v", srvErr, cliErr)
	}
	if id, _ := NodeID(srvSt.PeerCertificates[0]); id != "n2" {
		t.Errorf("accepting node saw peer %q, want n2", id)
	}
	if id, _ := NodeID(cliSt.PeerCertificates[0]); id != "n1" {
		t.Errorf("dialling node saw peer %q, want n1", id)
	}

	// A client certificate of the same CA does not get onto the cluster
	// port, whether the client dials with a client or a mutual config.
	if _, _, srvErr, _ := handshake(t, n1, mustLoad(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey}).MutualConfig()); srvErr == nil ||
		!strings.Contains(srvErr.Error(), "not a node certificate") {
		t.Errorf("client certificate (mutual config): server error %v, want not a node certificate", srvErr)
	}
	aliceClient := mustLoad(t, Files{CA: ca.certFile, Cert: aliceCert, Key: aliceKey}).ClientConfig()
	aliceClient.InsecureSkipVerify = true // only the server's check is under test
	if _, _, srvErr, _ := handshake(t, n1, aliceClient); srvErr == nil {
		t.Error("client certificate (client config) accepted by a node")
	}
	// Nor a certificate with both usages but no node id, on either side.
	web := mustLoad(t, Files{CA: ca.certFile, Cert: webCert, Key: webKey})
	if _, _, srvErr, _ := handshake(t, n1, web.MutualConfig()); srvErr == nil {
		t.Error("a non-node certificate dialled a node")
	}
	if _, _, _, cliErr := handshake(t, web.ServerConfig(false), n2); cliErr == nil ||
		!strings.Contains(cliErr.Error(), "not a node certificate") {
		t.Errorf("node dialling a non-node server: client error %v, want not a node certificate", cliErr)
	}
	// A node of another CA is refused both ways (the stranger trusts the
	// cluster's CA when it dials, so that the node is the one to refuse).
	if _, _, srvErr, _ := handshake(t, n1, mustLoad(t, Files{CA: ca.certFile, Cert: strangerCert, Key: strangerKey}).MutualConfig()); srvErr == nil ||
		!strings.Contains(srvErr.Error(), "unknown authority") {
		t.Errorf("node of another CA dialled a node: server error %v, want unknown authority", srvErr)
	}
	stranger := mustLoad(t, Files{CA: other.certFile, Cert: strangerCert, Key: strangerKey}).MutualConfig()
	if _, _, _, cliErr := handshake(t, stranger, n2); cliErr == nil || !strings.Contains(cliErr.Error(), "unknown authority") {
		t.Errorf("node dialled a node of another CA: client error %v, want unknown authority", cliErr)
	}
	// No client certificate at all.
	anonymous := mustLoad(t, Files{CA: ca.certFile}).ClientConfig()
	anonymous.InsecureSkipVerify = true
	if _, _, srvErr, _ := handshake(t, n1, anonymous); srvErr == nil {
		t.Error("node accepted a peer without a certificate")
	}
}

// echoServer accepts TLS connections with cfg on loopback and echoes lines;
// it stops at the end of the test.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				defer func() { _ = c.Close() }()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		<-done
		close(conns)
		for c := range conns {
			_ = c.Close()
		}
	})
	return lis.Addr().String()
}

// echo sends a line on c and checks it comes back.
func echo(t *testing.T, c *tls.Conn, r *bufio.Reader, line string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo of %q = %q, %v", line, got, err)
	}
}

func dialCN(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestReloadSwapsTheCertificateForNewConnections(t *testing.T) {
	ca := newTestCA(t, "CA")
	dir := t.TempDir()
	certFile, keyFile := dir+"/server.pem", dir+"/server-key.pem"
	install := func(cn string) {
		c, k, err := NewCert(ca.certPEM, ca.keyPEM, CertOptions{CommonName: cn, Server: true, DNSNames: []string{"localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, certFile, c)
		writeFile(t, keyFile, k)
	}
	install("v1")
	id := mustLoad(t, Files{Cert: certFile, Key: keyFile})
	addr := echoServer(t, id.ServerConfig(false))
	cli := clientFor(t, Files{CA: ca.certFile})

	old, cn := dialCN(t, addr, cli)
	if cn != "v1" {
		t.Fatalf("first connection sees %q, want v1", cn)
	}
	oldR := bufio.NewReader(old)
	echo(t, old, oldR, "before reload")

	install("v2")
	if err := id.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, cn := dialCN(t, addr, cli); cn != "v2" {
		t.Errorf("connection after Reload sees %q, want v2", cn)
	}
	echo(t, old, oldR, "after reload") // the old connection keeps working

	// A bad key: Reload fails naming the file and keeps v2.
	writeFile(t, keyFile, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	err := id.Reload()
	if err == nil || !strings.Contains(err.Error(), keyFile) || !strings.Contains(err.Error(), "kept the certificates loaded before") {
		t.Errorf("Reload with a bad key: %v; want an error naming %s", err, keyFile)
	}
	if _, cn := dialCN(t, addr, cli); cn != "v2" {
		t.Errorf("connection after a failed Reload sees %q, want v2", cn)
	}
	// A missing certificate: the same.
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if err := id.Reload(); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("Reload with a missing certificate: %v; want an error naming %s", err, certFile)
	}
	if _, cn := dialCN(t, addr, cli); cn != "v2" {
		t.Errorf("connection after a failed Reload sees %q, want v2", cn)
	}
	echo(t, old, oldR, "still")
}

func TestReloadSwapsTheClientCA(t *testing.T) {
	oldCA := newTestCA(t, "old CA")
	newCA := newTestCA(t, "new CA")
	srvCert, srvKey := oldCA.issue(t, nodeOptions("n1"))
	aliceCert, aliceKey := newCA.issue(t, CertOptions{CommonName: "alice", Client: true})
	caFile := t.TempDir() + "/ca.pem"
	writeFile(t, caFile, oldCA.certPEM)
	id := mustLoad(t, Files{CA: caFile, Cert: srvCert, Key: srvKey})
	srv := id.ServerConfig(true)
	alice := clientFor(t, Files{CA: oldCA.certFile, Cert: aliceCert, Key: aliceKey})

	if _, _, srvErr, _ := handshake(t, srv, alice); srvErr == nil {
		t.Fatal("client of the new CA accepted before the CA was rotated")
	}
	// Rotation: the bundle holds both CAs.
	writeFile(t, caFile, append(append([]byte{}, oldCA.certPEM...), newCA.certPEM...))
	if err := id.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, srvErr, cliErr := handshake(t, srv, alice); srvErr != nil || cliErr != nil {
		t.Fatalf("client of the new CA after Reload: server error %v, client error %v", srvErr, cliErr)
	}
}
