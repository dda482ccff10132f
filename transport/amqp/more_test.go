package amqp_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/internal/certs"
	"github.com/warrenmq/warren/transport/amqp"
	"github.com/warrenmq/warren/transport/transporttest"
)

// errWatermark stands for the node's watermark monitor's error.
type errWatermark struct{}

func (errWatermark) Error() string           { return "memory high watermark passed" }
func (errWatermark) ResourceExhausted() bool { return true }

func TestConnectionBlockedUnderAWatermark(t *testing.T) {
	var high atomic.Bool
	s := startServer(t, serverOptions{resources: func() error {
		if high.Load() {
			return errWatermark{}
		}
		return nil
	}})
	conn := s.dial(t)
	blocked := conn.NotifyBlocked(make(chan amqp091.Blocking, 2))
	ch := channel(t, conn)
	if _, err := ch.QueueDeclare("wm", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	high.Store(true)
	select {
	case b := <-blocked:
		if !b.Active || b.Reason == "" {
			t.Fatalf("blocking %+v", b)
		}
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("no connection.blocked")
	}
	// A publish meanwhile is nacked, not lost silently.
	dc, err := ch.PublishWithDeferredConfirmWithContext(testCtx(t, 5*time.Second), "", "wm", false, false, amqp091.Publishing{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(testCtx(t, 10*time.Second)); err != nil || ok {
		t.Fatalf("publish past the watermark: acked=%v err=%v, want a nack", ok, err)
	}
	high.Store(false)
	select {
	case b := <-blocked:
		if b.Active {
			t.Fatalf("blocking %+v, want unblocked", b)
		}
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("no connection.unblocked")
	}
	publishConfirmed(t, ch, "", "wm", amqp091.Publishing{Body: []byte("y")})
}

func TestAMQPLAINLogin(t *testing.T) {
	s := startServer(t, serverOptions{auth: true})
	c, err := amqp091.DialConfig(s.url("", "", "/"), amqp091.Config{SASL: []amqp091.Authentication{&amqp091.AMQPlainAuth{Username: "guest", Password: "guest"}}})
	if err != nil {
		t.Fatalf("AMQPLAIN: %v", err)
	}
	defer c.Close()
	_, err = amqp091.DialConfig(s.url("", "", "/"), amqp091.Config{SASL: []amqp091.Authentication{&amqp091.AMQPlainAuth{Username: "guest", Password: "nope"}}})
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != 403 {
		t.Fatalf("AMQPLAIN with a wrong password: %v, want 403", err)
	}
}

func TestGlobalQosBoundsTheChannel(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	for _, q := range []string{"g1", "g2"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		publishConfirmed(t, ch, "", "g1", amqp091.Publishing{Body: []byte("1")})
		publishConfirmed(t, ch, "", "g2", amqp091.Publishing{Body: []byte("2")})
	}
	cons := channel(t, s.dial(t))
	if err := cons.Qos(2, 0, true); err != nil {
		t.Fatal(err)
	}
	deliveries := make(chan amqp091.Delivery, 10)
	for _, q := range []string{"g1", "g2"} {
		msgs, err := cons.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for d := range msgs {
				deliveries <- d
			}
		}()
	}
	a, b := recv(t, deliveries), recv(t, deliveries)
	noDelivery(t, deliveries, 300*time.Millisecond) // two unacked on the channel: no more
	if err := a.Ack(false); err != nil {
		t.Fatal(err)
	}
	c := recv(t, deliveries)
	noDelivery(t, deliveries, 300*time.Millisecond)
	if err := cons.Ack(c.DeliveryTag, true); err != nil { // b and c
		t.Fatal(err)
	}
	_ = b
	recv(t, deliveries)
	recv(t, deliveries)
}

func TestAMQPSWithExternalLogin(t *testing.T) {
	dir := t.TempDir()
	caPEM, caKey, err := certs.NewCA("test CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	srvPEM, srvKey, err := certs.NewCert(caPEM, caKey, certs.CertOptions{CommonName: "node", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cliPEM, cliKey, err := certs.NewCert(caPEM, caKey, certs.CertOptions{CommonName: "guest", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id, err := certs.Load(certs.Files{CA: write("ca.pem", caPEM), Cert: write("srv.pem", srvPEM), Key: write("srv.key", srvKey)})
	if err != nil {
		t.Fatal(err)
	}
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
	authn, err := access.NewAuthenticator(n.Broker, access.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := amqp.NewServer(amqp.Config{Broker: n.Broker, Authenticator: authn, Authorizer: access.NewAuthorizer(n.Broker)})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(raw, id.OptionalClientCertConfig(true))) }()
	t.Cleanup(func() { srv.Close(2 * time.Second) })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.X509KeyPair(cliPEM, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := amqp091.DialTLS_ExternalAuth("amqps://"+raw.Addr().String()+"/", &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("EXTERNAL with a client certificate: %v", err)
	}
	defer c.Close()
	ch := channel(t, c)
	if _, err := ch.QueueDeclare("tls-q", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// Without a certificate, EXTERNAL is not offered: PLAIN still works.
	c2, err := amqp091.DialTLS("amqps://guest:guest@"+raw.Addr().String()+"/", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("PLAIN over TLS: %v", err)
	}
	_ = c2.Close()
}
