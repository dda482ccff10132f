package raftgroup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// acceptOne accepts one connection from l within the scaled timeout.
func acceptOne(t *testing.T, l raft.StreamLayer) net.Conn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(scaled(5 * time.Second)):
		l.Close() // unblocks the goroutine
		t.Fatal("accept timed out")
		return nil
	}
}

// dialLayer dials l's mux and writes a payload after the header so the
// accepting side can tell the connections apart.
func dialLayer(t *testing.T, l raft.StreamLayer, payload string) net.Conn {
	t.Helper()
	c, err := l.Dial(raft.ServerAddress(l.Addr().String()), scaled(5*time.Second))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatalf("write: %v", err)
	}
	return c
}

// readPayload reads len(want) bytes from c and checks them.
func readPayload(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(scaled(5 * time.Second)))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != want {
		t.Fatalf("read %q, want %q", buf, want)
	}
}

// expectClosedByPeer checks that the server closed c without sending data.
func expectClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(scaled(5 * time.Second)))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open")
	}
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, err %v; want the peer to close", n, err)
	}
}

func rawDial(t *testing.T, m *Mux) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMuxRoutesByGroup(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	a, b := m.Layer("a"), m.Layer("b")
	if a.Addr().String() != m.Addr().String() {
		t.Fatalf("layer addr %v, mux addr %v", a.Addr(), m.Addr())
	}

	// Dial a first, then b: if the mux crossed them, b's Accept would
	// return a's connection and the payload check would fail.
	dialLayer(t, a, "to-a")
	dialLayer(t, b, "to-b")
	readPayload(t, acceptOne(t, b), "to-b")
	readPayload(t, acceptOne(t, a), "to-a")

	// Both directions work after the header.
	ca := dialLayer(t, a, "ping")
	sa := acceptOne(t, a)
	readPayload(t, sa, "ping")
	io.WriteString(sa, "pong")
	readPayload(t, ca, "pong")
}

func TestMuxRejectsUnknownGroupAndBadHeaders(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	a := m.Layer("a")

	unknown := rawDial(t, m)
	unknown.Write(appendHeader(nil, "nope"))
	expectClosedByPeer(t, unknown)

	badMagic := rawDial(t, m)
	badMagic.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	expectClosedByPeer(t, badMagic)

	badVersion := rawDial(t, m)
	badVersion.Write([]byte{muxMagic, muxVersion + 1, 1, 'a'})
	expectClosedByPeer(t, badVersion)

	eventually(t, time.Second, func() error {
		if s := m.Stats(); s.UnknownGroup != 1 || s.BadHeader != 2 || s.Accepted != 3 {
			return fmt.Errorf("stats %+v, want 1 unknown group, 2 bad headers, 3 accepted", s)
		}
		return nil
	})

	// The mux still serves real groups.
	dialLayer(t, a, "ok")
	readPayload(t, acceptOne(t, a), "ok")
}

func TestMuxSilentClientDoesNotBlockOthers(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	a := m.Layer("a")

	silent := rawDial(t, m)
	partial := rawDial(t, m)
	partial.Write([]byte{muxMagic, muxVersion, 10, 'a'}) // promises 10 bytes, sends 1

	dialLayer(t, a, "hello")
	readPayload(t, acceptOne(t, a), "hello")

	// Closing the mux closes connections still in their header read.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosedByPeer(t, silent)
	expectClosedByPeer(t, partial)
}

func TestMuxHeaderTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, raftTestLogger(t, "mux"))
	m.HeaderTimeout = 50 * time.Millisecond
	go m.Serve()
	t.Cleanup(func() { m.Close() })

	silent := rawDial(t, m)
	expectClosedByPeer(t, silent)
	eventually(t, time.Second, func() error {
		if s := m.Stats(); s.BadHeader != 1 {
			return fmt.Errorf("stats %+v, want 1 bad header", s)
		}
		return nil
	})
}

func TestMuxLayerClose(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	a, b := m.Layer("a"), m.Layer("b")

	// A connection a already accepted ends with the layer.
	dialLayer(t, a, "x")
	accepted := acceptOne(t, a)
	readPayload(t, accepted, "x")

	acceptErr := make(chan error, 1)
	go func() {
		_, err := a.Accept()
		acceptErr <- err
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(scaled(5 * time.Second)):
		t.Fatal("accept did not return after layer close")
	}
	// Its reader sees a clean EOF (what raft's transport handles quietly).
	if _, err := accepted.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on a closed layer's connection: %v, want io.EOF", err)
	}
	if _, err := a.Dial(raft.ServerAddress(m.Addr().String()), time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("dial on closed layer: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	// b still works, and a's id is now unknown to the mux.
	dialLayer(t, b, "still")
	readPayload(t, acceptOne(t, b), "still")
	orphan := rawDial(t, m)
	orphan.Write(appendHeader(nil, "a"))
	expectClosedByPeer(t, orphan)
	eventually(t, time.Second, func() error {
		if s := m.Stats(); s.UnknownGroup != 1 {
			return fmt.Errorf("stats %+v, want 1 unknown group", s)
		}
		return nil
	})

	// The id can be registered again, as a reopened group does.
	a2 := m.Layer("a")
	dialLayer(t, a2, "again")
	readPayload(t, acceptOne(t, a2), "again")
}

func TestMuxDuplicateLayerPanics(t *testing.T) {
	m := newTestMux(t, raftTestLogger(t, "mux"))
	m.Layer("a")
	defer func() {
		if recover() == nil {
			t.Fatal("second Layer(\"a\") did not panic")
		}
	}()
	m.Layer("a")
}

func TestMuxCloseClosesLayers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, raftTestLogger(t, "mux"))
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	a := m.Layer("a")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve returned %v after close", err)
	}
	if _, err := a.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after mux close: %v", err)
	}
	if _, err := m.Layer("b").Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept on layer made after mux close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestMuxTLS(t *testing.T) {
	cfg := selfSignedTLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMux(ln, raftTestLogger(t, "mux"))
	m.TLSConfig = cfg
	go m.Serve()
	t.Cleanup(func() { m.Close() })
	a := m.Layer("a")

	c := dialLayer(t, a, "secret")
	if _, ok := c.(*layerConn).Conn.(*tls.Conn); !ok {
		t.Fatalf("dialed %T, want a TLS connection", c.(*layerConn).Conn)
	}
	readPayload(t, acceptOne(t, a), "secret")

	// A plaintext client fails the handshake and is counted.
	plain := rawDial(t, m)
	plain.Write(append(appendHeader(nil, "a"), "plaintext"...))
	expectClosedByPeer(t, plain)
	eventually(t, time.Second, func() error {
		if s := m.Stats(); s.BadHeader != 1 {
			return fmt.Errorf("stats %+v, want 1 bad header", s)
		}
		return nil
	})
}

// selfSignedTLS returns a mutual-TLS config whose one certificate, valid
// for 127.0.0.1, is its own CA.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "warren-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}
