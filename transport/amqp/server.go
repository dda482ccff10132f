package amqp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
)

// Config is an AMQP server's configuration.
type Config struct {
	Broker *broker.Broker
	// Authenticator and Authorizer check logins and permissions; both nil
	// lets every client in with every permission, as the gRPC port does
	// when the node runs with --no-auth.
	Authenticator *access.Authenticator
	Authorizer    *access.Authorizer
	Logger        hclog.Logger
	// MaxMessageBytes bounds one message body (the node's
	// --max-message-bytes); a bigger one closes its channel with 406.
	MaxMessageBytes int
	// FrameMax is the largest frame the server accepts and offers in
	// connection.tune; 0 means DefaultFrameMax.
	FrameMax uint32
	// ChannelMax is the most channels of one connection; 0 means
	// DefaultChannelMax.
	ChannelMax uint16
	// Heartbeat is the interval the server proposes; 0 means
	// DefaultHeartbeat. The client's tune-ok decides (0 turns it off).
	Heartbeat time.Duration
	// MaxConsumers bounds the consumers of one connection (the node's
	// --max-consumers-per-session); 0 means DefaultMaxConsumers.
	MaxConsumers int
	// PublishBuffer bounds the bytes of message bodies one connection
	// has read and not yet handed to the broker; past it the connection's
	// reader waits (TCP back-pressure). 0 means DefaultPublishBuffer.
	PublishBuffer int
	// HandshakeTimeout bounds the time from accept to connection.open-ok.
	HandshakeTimeout time.Duration
	// Version is reported in the server properties.
	Version string
	// Resources, when set, says why publishing must stop (nil when it may
	// go on): a memory or disk watermark (the node's watermark.Monitor
	// Check). Publishes are then nacked (not confirmed), as the gRPC port
	// refuses them, and connections that advertise connection.blocked are
	// told with connection.blocked, then connection.unblocked.
	Resources func() error
}

// Defaults of Config.
const (
	DefaultFrameMax         = 131072
	DefaultChannelMax       = 2047
	DefaultHeartbeat        = 60 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConsumers     = 1000
	DefaultPublishBuffer    = 64 << 20
	defaultMaxMessageBytes  = 4 << 20
)

// Server accepts AMQP connections and serves each as one broker session.
type Server struct {
	cfg      Config
	log      hclog.Logger
	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NewServer returns a server with cfg's zero fields set to their defaults.
func NewServer(cfg Config) *Server {
	if cfg.FrameMax == 0 {
		cfg.FrameMax = DefaultFrameMax
	}
	cfg.FrameMax = max(cfg.FrameMax, 4096)
	if cfg.ChannelMax == 0 {
		cfg.ChannelMax = DefaultChannelMax
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxConsumers <= 0 {
		cfg.MaxConsumers = DefaultMaxConsumers
	}
	if cfg.PublishBuffer <= 0 {
		cfg.PublishBuffer = DefaultPublishBuffer
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = defaultMaxMessageBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}, ctx: ctx, cancel: cancel}
}

// Serve accepts connections on ln until it is closed or the server is.
// A *tls.Conn listener (tls.NewListener) makes it the amqps port, where a
// verified client certificate allows the EXTERNAL mechanism.
func (s *Server) Serve(ln net.Listener) error {
	go func() {
		<-s.ctx.Done()
		_ = ln.Close()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(nc)
		}()
	}
}

// ServeConn serves one client connection until it ends.
func (s *Server) ServeConn(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.serve()
}

// Connections is the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, closes every connection with 320
// CONNECTION_FORCED (clients reconnect elsewhere) and waits up to wait for
// them to end.
func (s *Server) Close(wait time.Duration) {
	s.mu.Lock()
	s.draining = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.shutdown("broker shutdown")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
	}
}

// certUser is the common name of the verified client certificate of a
// TLS connection, "" without one.
func certUser(nc net.Conn) string {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
