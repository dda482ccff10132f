package amqp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport/amqp/wire"
)

// sessionCleanupTimeout bounds the work after a connection ends.
const sessionCleanupTimeout = 30 * time.Second

// conn is one client connection: one broker session, its channels, and
// the one writer every goroutine of the connection sends frames through.
type conn struct {
	s  *Server
	nc net.Conn
	r  *bufio.Reader

	wmu       sync.Mutex
	writers   atomic.Int64 // writers waiting for or holding wmu
	w         *bufio.Writer
	wbuf      []byte
	lastWrite atomic.Int64 // unix nanos

	frameMax   uint32
	channelMax uint16
	heartbeat  time.Duration

	user    access.User
	vhost   string
	session string
	// clientCaps are the capabilities the client's start-ok advertised.
	cancelNotify, blockedNotify bool

	ctx    context.Context
	cancel context.CancelFunc

	chmu     sync.Mutex
	channels map[uint16]*channel
	// closingChannels are channels the server closed and whose close-ok
	// has not come: their frames are dropped until it does (§4.2.9... the
	// spec's "discard frames until close-ok").
	closingChannels map[uint16]bool
	// closing: the server sent connection.close and waits for close-ok.
	closing atomic.Bool
	blocked atomic.Bool

	// buffered counts the body bytes read and not yet published
	// (Config.PublishBuffer), and consumers the open consumers
	// (Config.MaxConsumers).
	bufMu     sync.Mutex
	bufCond   *sync.Cond
	buffered  int
	consumers atomic.Int64
}

// reserveWait bounds how long the reader waits for room in the publish
// buffer: past it the bodies that hold the room are not being completed
// (a client that announces bodies it never sends), and the connection
// closes.
const reserveWait = 30 * time.Second

// reserve waits until n more body bytes fit the connection's publish
// buffer (one message alone always fits). It is taken when a content
// header announces its body, before the body is allocated, and returned
// once the message was handed to the broker; an error ends the
// connection.
func (c *conn) reserve(n int) error {
	c.bufMu.Lock()
	defer c.bufMu.Unlock()
	if c.buffered > 0 && c.buffered+n > c.s.cfg.PublishBuffer {
		timedOut := false
		t := time.AfterFunc(reserveWait, func() {
			c.bufMu.Lock()
			timedOut = true
			c.bufCond.Broadcast()
			c.bufMu.Unlock()
		})
		defer t.Stop()
		for c.buffered > 0 && c.buffered+n > c.s.cfg.PublishBuffer && c.ctx.Err() == nil && !timedOut {
			c.bufCond.Wait()
		}
		if timedOut {
			return wire.Errorf(wire.ResourceError, "%d bytes of message bodies announced and not completed or not yet published for %v; the limit is %d", c.buffered, reserveWait, c.s.cfg.PublishBuffer)
		}
	}
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	c.buffered += n
	return nil
}

// release returns n bytes to the publish buffer.
func (c *conn) release(n int) {
	c.bufMu.Lock()
	c.buffered -= n
	c.bufCond.Broadcast()
	c.bufMu.Unlock()
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{
		s: s, nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10),
		frameMax: s.cfg.FrameMax, channelMax: s.cfg.ChannelMax, ctx: ctx, cancel: cancel,
		channels: map[uint16]*channel{}, closingChannels: map[uint16]bool{},
	}
	c.bufCond = sync.NewCond(&c.bufMu)
	// A waiting reserve ends with the connection.
	context.AfterFunc(ctx, func() {
		c.bufMu.Lock()
		c.bufCond.Broadcast()
		c.bufMu.Unlock()
	})
	return c
}

// serve runs the connection: handshake, then frames until it ends.
func (c *conn) serve() {
	defer c.nc.Close()
	defer c.cancel()
	if err := c.handshake(); err != nil {
		c.fail(err)
		return
	}
	c.s.cfg.Broker.SessionOpened(c.session)
	// An operator's close (management API) ends the connection as
	// RabbitMQ's does: connection.close 320 CONNECTION_FORCED.
	defer c.s.cfg.Broker.TrackSessionStream(c.session, func(error) {
		c.closeConnection(wire.ConnectionForced, "closed by an operator (management API)", 0, 0)
	})()
	defer func() {
		c.cancel()
		c.closeChannels()
		ctx, cancel := context.WithTimeout(context.Background(), sessionCleanupTimeout)
		defer cancel()
		c.s.cfg.Broker.SessionClosed(ctx, c.session)
	}()
	if c.heartbeat > 0 {
		go c.sendHeartbeats()
	}
	if c.s.cfg.Resources != nil && c.blockedNotify {
		go c.watchBlocked()
	}
	err := c.readLoop()
	if errors.Is(err, io.EOF) {
		// The client hung up without connection.close: what it sent
		// before still runs, as RabbitMQ handles what it received.
		c.finishChannels()
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.fail(err)
	}
}

// fail ends the connection for err: a protocol error is sent as
// connection.close first (and its close-ok awaited briefly); an I/O
// error just ends it.
func (c *conn) fail(err error) {
	var we *wire.Error
	if !errors.As(err, &we) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && c.heartbeat > 0 {
			c.s.log.Debug("amqp client missed its heartbeats", "remote", c.nc.RemoteAddr())
		}
		return
	}
	c.closeConnection(we.Code, we.Text, 0, 0)
}

// closeConnection sends connection.close and waits a moment for close-ok.
func (c *conn) closeConnection(code uint16, text string, class, method uint16) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.s.log.Debug("closing amqp connection", "remote", c.nc.RemoteAddr(), "code", code, "text", text)
	_ = c.send(0, &wire.ConnectionClose{ReplyCode: code, ReplyText: replyText(code, text), ClassID: class, MethodID: method})
	// The read loop ends on close-ok, or on this deadline.
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
}

// shutdown closes the connection for the node's stop.
func (c *conn) shutdown(why string) {
	c.closeConnection(wire.ConnectionForced, why, 0, 0)
}

func replyText(code uint16, text string) string {
	t := wire.CodeName(code) + " - " + text
	if len(t) > 255 {
		t = t[:255]
	}
	return t
}

// handshake runs protocol header, start/start-ok, tune/tune-ok and open.
func (c *conn) handshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	defer c.nc.SetDeadline(time.Time{})
	var hdr [8]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return err
	}
	if !bytes.Equal(hdr[:], wire.ProtocolHeader) {
		// §4.2.2: answer with the protocol we speak and close.
		_, _ = c.nc.Write(wire.ProtocolHeader)
		return io.EOF
	}
	mechanisms := "PLAIN AMQPLAIN"
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(c.ctx); err != nil {
			return err
		}
	}
	cert := certUser(c.nc)
	if cert != "" {
		mechanisms = "EXTERNAL " + mechanisms
	}
	if err := c.send(0, &wire.ConnectionStart{
		VersionMajor: 0, VersionMinor: 9, ServerProperties: c.serverProperties(),
		Mechanisms: []byte(mechanisms), Locales: []byte("en_US"),
	}); err != nil {
		return err
	}
	m, err := c.readHandshakeMethod()
	if err != nil {
		return err
	}
	startOk, ok := m.(*wire.ConnectionStartOk)
	if !ok {
		return wire.Errorf(wire.CommandInvalid, "expected connection.start-ok, got %s", m.Name())
	}
	if caps, ok := startOk.ClientProperties["capabilities"].(wire.Table); ok {
		c.cancelNotify, _ = caps["consumer_cancel_notify"].(bool)
		c.blockedNotify, _ = caps["connection.blocked"].(bool)
	}
	if err := c.login(startOk, cert); err != nil {
		return err
	}
	hb := uint16(c.s.cfg.Heartbeat / time.Second)
	if err := c.send(0, &wire.ConnectionTune{ChannelMax: c.s.cfg.ChannelMax, FrameMax: c.s.cfg.FrameMax, Heartbeat: hb}); err != nil {
		return err
	}
	if m, err = c.readHandshakeMethod(); err != nil {
		return err
	}
	tune, ok := m.(*wire.ConnectionTuneOk)
	if !ok {
		return wire.Errorf(wire.CommandInvalid, "expected connection.tune-ok, got %s", m.Name())
	}
	if tune.FrameMax != 0 {
		if tune.FrameMax < wire.MinFrameMax || tune.FrameMax > c.s.cfg.FrameMax {
			return wire.Errorf(wire.NotAllowed, "frame-max %d is outside [%d, %d]", tune.FrameMax, wire.MinFrameMax, c.s.cfg.FrameMax)
		}
		c.frameMax = tune.FrameMax
	}
	if tune.ChannelMax != 0 {
		if tune.ChannelMax > c.s.cfg.ChannelMax {
			return wire.Errorf(wire.NotAllowed, "channel-max %d is above the server's %d", tune.ChannelMax, c.s.cfg.ChannelMax)
		}
		c.channelMax = tune.ChannelMax
	}
	c.heartbeat = time.Duration(tune.Heartbeat) * time.Second
	if m, err = c.readHandshakeMethod(); err != nil {
		return err
	}
	open, ok := m.(*wire.ConnectionOpen)
	if !ok {
		return wire.Errorf(wire.CommandInvalid, "expected connection.open, got %s", m.Name())
	}
	vhost := open.VirtualHost
	if vhost == "" {
		vhost = "/"
	}
	if z := c.s.cfg.Authorizer; z != nil {
		if err := z.Authorize(c.user, vhost, access.VHostAccess()); err != nil {
			return wire.Errorf(wire.NotAllowed, "access to vhost '%s' refused for user '%s': %v", vhost, c.user.Name, err)
		}
	} else if !c.s.cfg.Broker.HasVHost(vhost) {
		return wire.Errorf(wire.NotAllowed, "vhost '%s' not found", vhost)
	}
	c.vhost = vhost
	c.session = randomID("amqp-")
	return c.send(0, &wire.ConnectionOpenOk{})
}

// readHandshakeMethod reads the next method on channel 0 of the
// handshake (heartbeats skipped).
func (c *conn) readHandshakeMethod() (wire.Method, error) {
	for {
		f, err := wire.ReadFrame(c.r, wire.MinFrameMax)
		if err != nil {
			return nil, err
		}
		if f.Type == wire.FrameHeartbeat {
			continue
		}
		if f.Type != wire.FrameMethod || f.Channel != 0 {
			return nil, wire.Errorf(wire.UnexpectedFrame, "frame type %d on channel %d during the connection handshake", f.Type, f.Channel)
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			return nil, err
		}
		if _, ok := m.(*wire.ConnectionClose); ok {
			_ = c.send(0, &wire.ConnectionCloseOk{})
			return nil, io.EOF
		}
		return m, nil
	}
}

// login authenticates start-ok's response (PLAIN, AMQPLAIN, or EXTERNAL
// with the verified client certificate). A refused login is 403
// ACCESS_REFUSED, sent as connection.close (RabbitMQ's
// authentication_failure_close).
func (c *conn) login(so *wire.ConnectionStartOk, cert string) error {
	var cred access.Credentials
	cred.Remote = c.nc.RemoteAddr()
	switch so.Mechanism {
	case "PLAIN":
		parts := bytes.SplitN(so.Response, []byte{0}, 3)
		if len(parts) != 3 {
			return wire.Errorf(wire.AccessRefused, "PLAIN response is not authzid NUL user NUL password")
		}
		cred.User, cred.Password = string(parts[1]), string(parts[2])
	case "AMQPLAIN":
		t, err := wire.DecodeTableBody(so.Response)
		if err != nil {
			return wire.Errorf(wire.AccessRefused, "AMQPLAIN response is not a field table: %v", err)
		}
		cred.User, _ = t["LOGIN"].(string)
		cred.Password, _ = t["PASSWORD"].(string)
	case "EXTERNAL":
		if cert == "" {
			return wire.Errorf(wire.AccessRefused, "EXTERNAL needs a verified client certificate (amqps with the node's client CA)")
		}
		cred.CertUser = cert
	default:
		return wire.Errorf(wire.AccessRefused, "authentication mechanism %q is not supported (PLAIN, AMQPLAIN, EXTERNAL over amqps)", so.Mechanism)
	}
	if c.s.cfg.Authenticator == nil {
		name := cred.User
		if name == "" {
			name = cred.CertUser
		}
		c.user = access.User{Name: name}
		return nil
	}
	u, err := c.s.cfg.Authenticator.Authenticate(c.ctx, cred)
	if err != nil {
		name := cred.User
		if name == "" {
			name = cred.CertUser
		}
		return wire.Errorf(wire.AccessRefused, "Login was refused using authentication mechanism %s (user %q): %v", so.Mechanism, name, err)
	}
	c.user = u
	return nil
}

// serverProperties are connection.start's: product and the capabilities
// RabbitMQ advertises, for what Warren supports.
func (c *conn) serverProperties() wire.Table {
	return wire.Table{
		"product":     "Warren",
		"version":     c.s.cfg.Version,
		"platform":    "Go",
		"information": "https://github.com/warrenmq/warren",
		"capabilities": wire.Table{
			"publisher_confirms":           true,
			"exchange_exchange_bindings":   true,
			"basic.nack":                   true,
			"consumer_cancel_notify":       true,
			"connection.blocked":           true,
			"authentication_failure_close": true,
			"per_consumer_qos":             true,
			"consumer_priorities":          true,
		},
	}
}

// readLoop reads frames until the connection ends. With heartbeats on, a
// client silent for two intervals is gone (its read times out).
func (c *conn) readLoop() error {
	for {
		if c.heartbeat > 0 && !c.closing.Load() {
			_ = c.nc.SetReadDeadline(time.Now().Add(2 * c.heartbeat))
		}
		f, err := wire.ReadFrame(c.r, c.frameMax)
		if err != nil {
			if c.closing.Load() {
				return nil
			}
			return err
		}
		if err := c.frame(f); err != nil {
			if errors.Is(err, errClosed) {
				return nil
			}
			return err
		}
	}
}

// errClosed ends the read loop after a clean connection.close.
var errClosed = errors.New("connection closed")

// frame handles one frame.
func (c *conn) frame(f wire.Frame) error {
	if f.Type == wire.FrameHeartbeat {
		if f.Channel != 0 {
			return wire.Errorf(wire.FrameError, "heartbeat frame on channel %d", f.Channel)
		}
		return nil
	}
	if f.Channel == 0 {
		return c.connectionFrame(f)
	}
	if c.closing.Load() {
		return nil // §4.2.9... after connection.close only close-ok counts
	}
	c.chmu.Lock()
	ch := c.channels[f.Channel]
	closing := c.closingChannels[f.Channel]
	c.chmu.Unlock()
	if closing {
		if f.Type == wire.FrameMethod {
			if m, err := wire.DecodeMethod(f.Payload); err == nil {
				switch m.(type) {
				case *wire.ChannelCloseOk:
					c.chmu.Lock()
					delete(c.closingChannels, f.Channel)
					c.chmu.Unlock()
				case *wire.ChannelClose:
					// Both sides closed at once: answer, and the channel is gone.
					c.chmu.Lock()
					delete(c.closingChannels, f.Channel)
					c.chmu.Unlock()
					return c.send(f.Channel, &wire.ChannelCloseOk{})
				}
			}
		}
		return nil
	}
	if ch == nil {
		if f.Type != wire.FrameMethod {
			return wire.Errorf(wire.ChannelError, "frame on channel %d, which is not open", f.Channel)
		}
		m, err := wire.DecodeMethod(f.Payload)
		if err != nil {
			return err
		}
		if _, ok := m.(*wire.ChannelOpen); !ok {
			return wire.Errorf(wire.ChannelError, "%s on channel %d, which is not open", m.Name(), f.Channel)
		}
		if f.Channel > c.channelMax {
			return wire.Errorf(wire.ChannelError, "channel %d is above the negotiated channel-max %d", f.Channel, c.channelMax)
		}
		ch = newChannel(c, f.Channel)
		c.chmu.Lock()
		c.channels[f.Channel] = ch
		c.chmu.Unlock()
		go ch.run()
		return c.send(f.Channel, &wire.ChannelOpenOk{})
	}
	return ch.frame(f)
}

// connectionFrame handles a frame of channel 0 after the handshake.
func (c *conn) connectionFrame(f wire.Frame) error {
	if f.Type != wire.FrameMethod {
		return wire.Errorf(wire.UnexpectedFrame, "frame type %d on channel 0", f.Type)
	}
	m, err := wire.DecodeMethod(f.Payload)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *wire.ConnectionClose:
		c.closing.Store(true)
		c.finishChannels()
		c.closeChannels()
		_ = c.send(0, &wire.ConnectionCloseOk{})
		return errClosed
	case *wire.ConnectionCloseOk:
		if c.closing.Load() {
			return errClosed
		}
		return wire.Errorf(wire.CommandInvalid, "connection.close-ok without a connection.close")
	case *wire.ConnectionBlocked, *wire.ConnectionUnblocked:
		return nil // a client's notice; nothing to do
	case *wire.ConnectionUpdateSecret:
		return wire.Errorf(wire.NotImplemented, "connection.update-secret is not supported (no token authentication)")
	default:
		if c.closing.Load() {
			return nil
		}
		return wire.Errorf(wire.CommandInvalid, "%s is not valid on channel 0 after the handshake", m.Name())
	}
}

// finishWait bounds how long a client's connection.close waits for its
// channels to run what was sent before it.
const finishWait = 10 * time.Second

// finishChannels lets every channel run the methods the client sent
// before connection.close (a publish then close, without confirms, must
// not lose the message), concurrently, within finishWait.
func (c *conn) finishChannels() {
	c.chmu.Lock()
	chans := make([]*channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	c.chmu.Unlock()
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch.finish(finishWait)
		}()
	}
	wg.Wait()
}

// closeChannels ends every channel (its consumers go, which returns their
// unacked deliveries) and waits for them.
func (c *conn) closeChannels() {
	c.chmu.Lock()
	chans := make([]*channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	c.chmu.Unlock()
	for _, ch := range chans {
		ch.stop()
	}
}

// send writes one method frame.
func (c *conn) send(channel uint16, m wire.Method) error {
	c.writers.Add(1)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wire.AppendMethodFrame(c.wbuf[:0], channel, m)
	return c.flushLocked()
}

// sendContent writes a method with content (deliver, get-ok, return).
func (c *conn) sendContent(channel uint16, m wire.Method, props *wire.Properties, body []byte) error {
	c.writers.Add(1)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wire.AppendMethodFrame(c.wbuf[:0], channel, m)
	c.wbuf = wire.AppendContent(c.wbuf, channel, c.frameMax, props, body)
	return c.flushLocked()
}

// flushLocked writes c.wbuf, and flushes the socket unless another
// writer is already waiting for the lock: the last of a burst flushes
// for all (deliveries of several consumers, confirms) in one write.
// Every caller counted itself in c.writers before taking the lock.
func (c *conn) flushLocked() error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout(c.heartbeat)))
	_, err := c.w.Write(c.wbuf)
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // do not keep a big message's buffer
	}
	if c.writers.Add(-1) == 0 && err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		c.cancel()
		_ = c.nc.Close()
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return err
}

// writeTimeout bounds one write: a client that stops reading costs only
// its own connection.
func writeTimeout(heartbeat time.Duration) time.Duration {
	if heartbeat > 0 {
		return max(2*heartbeat, 10*time.Second)
	}
	return 60 * time.Second
}

// sendHeartbeats sends a heartbeat whenever nothing was written for half
// the interval.
func (c *conn) sendHeartbeats() {
	t := time.NewTicker(c.heartbeat / 2)
	defer t.Stop()
	hb := wire.AppendFrame(nil, wire.FrameHeartbeat, 0, nil)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, c.lastWrite.Load())) < c.heartbeat/2 {
			continue
		}
		c.writers.Add(1)
		c.wmu.Lock()
		c.wbuf = append(c.wbuf[:0], hb...)
		err := c.flushLocked()
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// watchBlocked tells a client that asked for it when publishing is
// blocked by a watermark and when it may go on.
func (c *conn) watchBlocked() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		err := c.s.cfg.Resources()
		switch {
		case err != nil && !c.blocked.Load():
			c.blocked.Store(true)
			why := strings.TrimSpace(err.Error())
			if len(why) > 255 {
				why = why[:255]
			}
			_ = c.send(0, &wire.ConnectionBlocked{Reason: why})
		case err == nil && c.blocked.Load():
			c.blocked.Store(false)
			_ = c.send(0, &wire.ConnectionUnblocked{})
		}
	}
}

func (c *conn) String() string { return fmt.Sprintf("amqp %s %s", c.nc.RemoteAddr(), c.session) }
