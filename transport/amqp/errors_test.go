package amqp_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
)

func TestWrongPasswordIsAccessRefused(t *testing.T) {
	s := startServer(t, serverOptions{auth: true})
	_, err := amqp091.Dial(s.url("guest", "wrong", "/"))
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != 403 || !strings.Contains(e.Reason, "ACCESS_REFUSED") {
		t.Fatalf("wrong password: %v, want 403 ACCESS_REFUSED", err)
	}
	// The right one works.
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("ok", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPermissionsAndVHostIsolation(t *testing.T) {
	s := startServer(t, serverOptions{auth: true})
	b := s.node.Broker
	ctx := testCtx(t, 20*time.Second)
	for _, err := range []error{
		second(b.AddVHost(ctx, "other")),
		second(b.AddUser(ctx, "reader", "secret-pw", nil)),
		second(b.SetPermissions(ctx, broker.Permission{User: "reader", VHost: "/", Configure: "^$", Write: "^$", Read: ".*"})),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// No permission in vhost "other": refused at connection.open (530).
	_, err := amqp091.Dial(s.url("reader", "secret-pw", "other"))
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != 530 {
		t.Fatalf("open of a vhost without permission: %v, want 530 NOT_ALLOWED", err)
	}
	// Read only in "/": declaring is a 403 channel close naming the queue.
	ch := channel(t, s.dialURL(t, s.url("reader", "secret-pw", "/")))
	_, err = ch.QueueDeclare("mine", true, false, false, false, nil)
	if !errors.As(err, &e) || e.Code != 403 || !strings.Contains(e.Reason, `"mine"`) {
		t.Fatalf("declare without configure: %v, want 403 naming the queue", err)
	}
	// Vhost isolation: a queue of "/" does not exist in "other".
	admin := channel(t, s.dial(t))
	if _, err := admin.QueueDeclare("shared-name", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetPermissions(ctx, broker.Permission{User: "guest", VHost: "other", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	och := channel(t, s.dialURL(t, s.url("guest", "guest", "other")))
	_, err = och.QueueDeclarePassive("shared-name", true, false, false, false, nil)
	if !errors.As(err, &e) || e.Code != 404 {
		t.Fatalf("passive declare across vhosts: %v, want 404", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestTxRefusedAndArgumentsChecked(t *testing.T) {
	s := startServer(t, serverOptions{})
	conn := s.dial(t)
	ch := channel(t, conn)
	_, err := ch.QueueDeclare("args", true, false, false, false, amqp091.Table{"x-no-such-thing": int32(1)})
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != 406 || !strings.Contains(e.Reason, "x-no-such-thing") {
		t.Fatalf("unknown argument: %v, want 406 naming it", err)
	}
	ch = channel(t, conn)
	if _, err := ch.QueueDeclare("args", true, false, false, false, amqp091.Table{"x-max-length": int32(2)}); err != nil {
		t.Fatal(err)
	}
	// Re-declaring with other arguments is 406 PRECONDITION_FAILED.
	_, err = ch.QueueDeclare("args", true, false, false, false, amqp091.Table{"x-max-length": int32(3)})
	if !errors.As(err, &e) || e.Code != 406 {
		t.Fatalf("inequivalent re-declare: %v, want 406", err)
	}
	ch = channel(t, conn)
	err = ch.Tx()
	if !errors.As(err, &e) || e.Code != 540 || !strings.Contains(e.Reason, "confirm") {
		t.Fatalf("tx.select: %v, want 540 naming confirms", err)
	}
}

func TestConsumerCancelNotificationOnQueueDelete(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("doomed", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	cancels := ch.NotifyCancel(make(chan string, 1))
	msgs, err := ch.Consume("doomed", "watcher", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := channel(t, s.dial(t)).QueueDelete("doomed", false, false, false); err != nil {
		t.Fatal(err)
	}
	select {
	case tag := <-cancels:
		if tag != "watcher" {
			t.Fatalf("cancelled %q", tag)
		}
	case <-time.After(scaled(15 * time.Second)):
		t.Fatal("no basic.cancel after the queue was deleted")
	}
	select {
	case _, ok := <-msgs:
		if ok {
			t.Fatal("delivery after cancel")
		}
	case <-time.After(scaled(5 * time.Second)):
		t.Fatal("delivery channel not closed after cancel")
	}
}

// rawConn speaks frames by hand, for what no client library sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(scaled(20 * time.Second)))
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *rawConn) write(b []byte) {
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) method() wire.Method {
	c.t.Helper()
	for {
		f, err := wire.ReadFrame(c.r, 1<<20)
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if f.Type != wire.FrameMethod {
			continue
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			c.t.Fatal(err)
		}
		return m
	}
}

// open runs the handshake as guest with the given heartbeat.
func (c *rawConn) open(heartbeat uint16) {
	c.write(wire.ProtocolHeader)
	if _, ok := c.method().(*wire.ConnectionStart); !ok {
		c.t.Fatal("no connection.start")
	}
	c.write(wire.AppendMethodFrame(nil, 0, &wire.ConnectionStartOk{Mechanism: "PLAIN", Response: []byte("\x00guest\x00guest"), Locale: "en_US"}))
	if _, ok := c.method().(*wire.ConnectionTune); !ok {
		c.t.Fatal("no connection.tune")
	}
	c.write(wire.AppendMethodFrame(nil, 0, &wire.ConnectionTuneOk{ChannelMax: 16, FrameMax: 8192, Heartbeat: heartbeat}))
	c.write(wire.AppendMethodFrame(nil, 0, &wire.ConnectionOpen{VirtualHost: "/"}))
	if _, ok := c.method().(*wire.ConnectionOpenOk); !ok {
		c.t.Fatal("no connection.open-ok")
	}
}

func (c *rawConn) wantClose(code uint16) *wire.ConnectionClose {
	c.t.Helper()
	m := c.method()
	cl, ok := m.(*wire.ConnectionClose)
	if !ok || cl.ReplyCode != code {
		c.t.Fatalf("got %s %+v, want connection.close %d", m.Name(), m, code)
	}
	return cl
}

func TestMalformedFrames(t *testing.T) {
	s := startServer(t, serverOptions{})
	// A frame over the negotiated frame-max: 501 FRAME_ERROR.
	c := dialRaw(t, s.addr)
	c.open(0)
	c.write(wire.AppendFrame(nil, wire.FrameMethod, 1, make([]byte, 9000)))
	c.wantClose(wire.FrameError)
	// A bad frame end octet: 501.
	c = dialRaw(t, s.addr)
	c.open(0)
	f := wire.AppendMethodFrame(nil, 1, &wire.ChannelOpen{})
	f[len(f)-1] = 0
	c.write(f)
	c.wantClose(wire.FrameError)
	// A method on a channel never opened: 504 CHANNEL_ERROR.
	c = dialRaw(t, s.addr)
	c.open(0)
	c.write(wire.AppendMethodFrame(nil, 5, &wire.QueueDeclare{Queue: "x"}))
	c.wantClose(wire.ChannelError)
	// A content header with no publish before it: 505 UNEXPECTED_FRAME.
	c = dialRaw(t, s.addr)
	c.open(0)
	c.write(wire.AppendMethodFrame(nil, 1, &wire.ChannelOpen{}))
	c.method() // open-ok
	c.write(wire.AppendContent(nil, 1, 8192, &wire.Properties{}, []byte("x")))
	c.wantClose(wire.UnexpectedFrame)
	// A truncated method: 502 SYNTAX_ERROR.
	c = dialRaw(t, s.addr)
	c.open(0)
	c.write(wire.AppendFrame(nil, wire.FrameMethod, 1, []byte{0, 20, 0, 10, 9}))
	c.wantClose(wire.SyntaxError)
	// A wrong protocol header is answered with AMQP 0-9-1's.
	c = dialRaw(t, s.addr)
	c.write([]byte("AMQP\x01\x01\x00\x0a"))
	got := make([]byte, 8)
	if _, err := c.r.Read(got); err != nil || string(got) != string(wire.ProtocolHeader) {
		t.Fatalf("protocol header answer %q, %v", got, err)
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	s := startServer(t, serverOptions{})
	c := dialRaw(t, s.addr)
	c.open(1) // 1 s heartbeats, and then silence
	start := time.Now()
	_ = c.nc.SetReadDeadline(time.Now().Add(scaled(15 * time.Second)))
	for {
		if _, err := wire.ReadFrame(c.r, 1<<20); err != nil {
			break // the server hung up
		}
	}
	if el := time.Since(start); el > scaled(10*time.Second) {
		t.Fatalf("a silent client was dropped after %v; want about 2 heartbeats", el)
	}
	waitFor(t, 10*time.Second, func() error {
		if n := s.srv.Connections(); n != 0 {
			return errors.New("connection still open")
		}
		return nil
	})
}

func TestMessageTooLarge(t *testing.T) {
	s := startServer(t, serverOptions{maxMsg: 1000})
	ch := channel(t, s.dial(t))
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	_ = ch.PublishWithContext(context.Background(), "", "q", false, false, amqp091.Publishing{Body: make([]byte, 2000)})
	select {
	case e := <-closed:
		if e == nil || e.Code != 406 || !strings.Contains(e.Reason, "1000") {
			t.Fatalf("oversized message: %v", e)
		}
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("channel not closed")
	}
}
