package amqp_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport/amqp"
	"github.com/warrenmq/warren/transport/transporttest"
)

// scaled stretches a deadline by WARREN_TEST_TIMEOUT_SCALE.
func scaled(d time.Duration) time.Duration { return d * transporttest.TimeoutScale() }

// testServer is an in-process node with the AMQP port on a loopback
// port the OS picked.
type testServer struct {
	node *transporttest.Node
	srv  *amqp.Server
	addr string
}

type serverOptions struct {
	auth      bool
	heartbeat time.Duration
	maxMsg    int
	resources func() error
	pubBuffer int
}

func startServer(t testing.TB, o serverOptions) *testServer {
	t.Helper()
	topts := transporttest.Options{}
	if o.auth {
		topts.Access = &access.Options{}
	}
	n := transporttest.Start(t, topts)
	cfg := amqp.Config{Broker: n.Broker, Heartbeat: o.heartbeat, MaxMessageBytes: o.maxMsg, Resources: o.resources, PublishBuffer: o.pubBuffer, Version: "test"}
	if o.auth {
		authn, err := access.NewAuthenticator(n.Broker, access.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Authenticator, cfg.Authorizer = authn, access.NewAuthorizer(n.Broker)
	}
	return serveOn(t, n, cfg)
}

func serveOn(t testing.TB, n *transporttest.Node, cfg amqp.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil && os.Getenv("AMQP_TEST_LOG") != "" {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: os.Stderr})
	}
	srv := amqp.NewServer(cfg)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(2 * time.Second) })
	return &testServer{node: n, srv: srv, addr: ln.Addr().String()}
}

func (s *testServer) url(user, pass, vhost string) string {
	if vhost == "/" {
		vhost = "%2F"
	}
	return "amqp://" + user + ":" + pass + "@" + s.addr + "/" + vhost
}

// dial connects amqp091-go as guest to vhost "/"; closed at cleanup.
func (s *testServer) dial(t *testing.T) *amqp091.Connection {
	t.Helper()
	return s.dialURL(t, s.url("guest", "guest", "/"))
}

func (s *testServer) dialURL(t *testing.T, url string) *amqp091.Connection {
	t.Helper()
	c, err := amqp091.DialConfig(url, amqp091.Config{Heartbeat: 10 * time.Second, Locale: "en_US"})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func channel(t *testing.T, c *amqp091.Connection) *amqp091.Channel {
	t.Helper()
	ch, err := c.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	return ch
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), scaled(d))
	t.Cleanup(cancel)
	return ctx
}

// recv waits for one delivery.
func recv(t *testing.T, deliveries <-chan amqp091.Delivery) amqp091.Delivery {
	t.Helper()
	select {
	case d, ok := <-deliveries:
		if !ok {
			t.Fatal("delivery channel closed")
		}
		return d
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("no delivery within 10s")
	}
	return amqp091.Delivery{}
}

// noDelivery asserts nothing arrives for d (a bounded wait used only to
// show an absence).
func noDelivery(t *testing.T, deliveries <-chan amqp091.Delivery, d time.Duration) {
	t.Helper()
	select {
	case m := <-deliveries:
		t.Fatalf("unexpected delivery %q", m.Body)
	case <-time.After(d):
	}
}

// publishConfirmed publishes body with confirms on and waits for the ack.
func publishConfirmed(t *testing.T, ch *amqp091.Channel, exchange, key string, msg amqp091.Publishing) {
	t.Helper()
	dc, err := ch.PublishWithDeferredConfirmWithContext(testCtx(t, 10*time.Second), exchange, key, false, false, msg)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	ok, err := dc.WaitContext(testCtx(t, 10*time.Second))
	if err != nil || !ok {
		t.Fatalf("publish %q: acked=%v err=%v", msg.Body, ok, err)
	}
}
