package raftgroup

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// muxLayer is the raft.StreamLayer of one group behind a Mux. It is fed by
// the mux's header goroutines through an unbuffered channel, like Consul's
// RaftLayer.Handoff, so a group that stops accepting holds back only its
// own connections.
type muxLayer struct {
	mux    *Mux
	group  string
	header []byte // the precomputed mux header for Dial

	connCh chan net.Conn
	done   chan struct{} // closed by Close

	mu     sync.Mutex
	closed bool
	conns  map[*layerConn]struct{} // open accepted and dialed connections

	// peerClosed, when set, is called (on the reading goroutine, so it
	// must not block) when an accepted connection ends on the peer's
	// side: the group's leader watch (leader_watch.go).
	peerClosed atomic.Pointer[func()]
}

var _ raft.StreamLayer = (*muxLayer)(nil)

// pass hands an accepted connection, header already consumed, to
// Accept. It blocks until Accept takes it or the layer closes, which is
// why it runs on the connection's own goroutine.
func (l *muxLayer) pass(conn, raw net.Conn) {
	c := l.adopt(conn, raw, true)
	if c == nil {
		conn.Close()
		return
	}
	select {
	case l.connCh <- c:
	case <-l.done:
		c.Close()
	}
}

// Accept returns the next connection whose header named this group. After
// Close it returns an error wrapping net.ErrClosed, which is what stops the
// raft.NetworkTransport listen loop.
func (l *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.connCh:
		return c, nil
	case <-l.done:
		return nil, errLayerClosed
	}
}

// Close unregisters the group from the mux and ends every connection the
// layer handed out, so the transport's per-connection goroutines exit even
// when the peer keeps its end open. Dialed connections are closed.
// Accepted TCP connections get their read side shut down instead: their
// reader sees io.EOF and closes them, which raft's transport does without
// logging an error for each connection on every clean shutdown. It is
// idempotent and leaves the mux and the other layers running.
func (l *muxLayer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()

	l.mux.unregister(l)
	for c := range conns {
		if tc, ok := c.raw.(*net.TCPConn); ok && c.accepted {
			tc.CloseRead()
		} else {
			c.Close()
		}
	}
	return nil
}

// Addr returns the mux address (Mux.Advertise, else the listener's). Raft
// uses it as this server's address in RPC headers.
func (l *muxLayer) Addr() net.Addr { return l.mux.Addr() }

// Dial connects to the raft port at addr and writes this group's header
// (after the TLS handshake when the mux has a TLSConfig). timeout bounds the
// connect, the handshake and the header write together; zero means none.
func (l *muxLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.isClosed() {
		return nil, errLayerClosed
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	conn := raw
	err = func() error {
		if err := raw.SetDeadline(deadline); err != nil {
			return err
		}
		if cfg := l.mux.TLSConfig; cfg != nil {
			tc := tls.Client(raw, clientTLSConfig(cfg, addr))
			if err := tc.Handshake(); err != nil {
				return err
			}
			conn = tc
		}
		if _, err := conn.Write(l.header); err != nil {
			return err
		}
		return conn.SetDeadline(time.Time{})
	}()
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := l.adopt(conn, raw, false)
	if c == nil {
		conn.Close()
		return nil, errLayerClosed
	}
	return c, nil
}

// clientTLSConfig fills in ServerName from the dialed address when the
// configuration leaves it empty, so certificates with the node's IP or DNS
// name verify without per-peer configuration.
func clientTLSConfig(cfg *tls.Config, addr raft.ServerAddress) *tls.Config {
	if cfg.ServerName != "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(string(addr))
	if err != nil {
		return cfg
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

func (l *muxLayer) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// adopt wraps conn (raw is the TCP connection under it, the same unless
// TLS is on) so Close can find it; it returns nil once the layer is closed.
func (l *muxLayer) adopt(conn, raw net.Conn, accepted bool) *layerConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	c := &layerConn{Conn: conn, raw: raw, accepted: accepted, layer: l}
	l.conns[c] = struct{}{}
	return c
}

func (l *muxLayer) forget(c *layerConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// layerConn is a connection owned by a layer: closing it removes it from
// the layer's set, and closing the layer closes it.
type layerConn struct {
	net.Conn
	raw      net.Conn
	accepted bool
	layer    *muxLayer
	once     sync.Once
	err      error
	ended    atomic.Bool // the peer's end was reported (once per conn)
}

// Read reads from the connection; on an accepted connection, the first
// error that is not this side's own close or a deadline is reported to
// the layer's peerClosed: the peer closed or reset it.
func (c *layerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.accepted && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) &&
		!c.layer.isClosed() && c.ended.CompareAndSwap(false, true) {
		if f := c.layer.peerClosed.Load(); f != nil {
			(*f)()
		}
	}
	return n, err
}

// Close closes the connection once and forgets it; later calls return the
// first result.
func (c *layerConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.layer.forget(c)
	})
	return c.err
}
