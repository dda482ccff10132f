package transport

import (
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// Node-wide caps of the client port: open connections, streams (consume
// and session streams, and calls in flight) per connection, and consume
// streams per session. They bound what one client, or many, can make a
// node hold; past them a connection is closed at once, a stream waits for
// room (HTTP/2's flow control), or a subscribe fails with RESOURCE_EXHAUSTED
// naming the limit.

// ClientCaps returns the gRPC options of the client port's caps; the
// cluster port does not take them (a follower proxies many clients' streams
// over one connection).
func ClientCaps(l Limits) []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxConcurrentStreams(uint32(l.MaxStreamsPerConnection))}
}

// LimitConnections returns a listener that counts the open connections
// and closes, as soon as it accepts it, every connection beyond max open
// ones, and logs that (at most every 10 s). max ≤ 0 means no limit.
func LimitConnections(ln net.Listener, max int, logger hclog.Logger) *ConnListener {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if max <= 0 {
		max = math.MaxInt64
	}
	return &ConnListener{Listener: ln, max: int64(max), logger: logger}
}

// Open is the number of connections open now.
func (l *ConnListener) Open() int64 { return l.open.Load() }

// Refused is the number of connections closed for being past the limit
// since the listener was made.
func (l *ConnListener) Refused() int64 { return l.refused.Load() }

// ConnListener is the client port's listener (LimitConnections).
type ConnListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	logger  hclog.Logger
	logged  atomic.Int64 // unix nanos of the last refusal logged
}

func (l *ConnListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			_ = c.Close()
			n := l.refused.Add(1)
			if now := time.Now().UnixNano(); now-l.logged.Load() > int64(10*time.Second) {
				l.logged.Store(now)
				l.logger.Warn("refused client connections past the limit", "max_connections", l.max, "refused_total", n)
			}
			continue
		}
		return &cappedConn{Conn: c, l: l}, nil
	}
}

type cappedConn struct {
	net.Conn
	l    *ConnListener
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// sessionStreams counts the consume streams each session has open on this
// node, for MaxConsumersPerSession.
type sessionStreams struct {
	mu    sync.Mutex
	count map[string]int
}

// open counts one more stream of session, unless it has max already.
func (s *sessionStreams) open(session string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == nil {
		s.count = map[string]int{}
	}
	if max > 0 && s.count[session] >= max {
		return false
	}
	s.count[session]++
	return true
}

func (s *sessionStreams) close(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count[session]--; s.count[session] <= 0 {
		delete(s.count, session)
	}
}
