package raftgroup

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Mux header: every connection to the raft port starts with
//
//	'W' | version (1) | uint8 len | group id (len bytes)
//
// The magic byte rejects stray clients (an HTTP probe, a gRPC client on the
// wrong port) in one byte; the version byte leaves room for a new header
// without guessing.
const (
	muxMagic   byte = 'W'
	muxVersion byte = 1

	// DefaultMuxHeaderTimeout bounds how long an accepted connection may
	// take to send its header (and finish its TLS handshake). It is long
	// enough for a loaded peer and short enough that port scanners do not
	// pin goroutines.
	DefaultMuxHeaderTimeout = 5 * time.Second

	// MaxGroupNameLen is the longest group id the header can carry.
	MaxGroupNameLen = 255
)

// errLayerClosed is returned by Accept and Dial of a closed layer. It wraps
// net.ErrClosed because raft's transport and most callers test for that.
var errLayerClosed = fmt.Errorf("raftgroup: raft stream layer closed: %w", net.ErrClosed)

// Mux shares one listener (the node's raft address) between all Raft groups
// of a node (STYLE §5, option a). Each accepted connection names its group
// in a short header; the mux strips the header and hands the connection to
// that group's StreamLayer, so each group gets its own raft.NetworkTransport
// while the node needs one port.
//
// Create a Mux with NewMux, set the optional fields, register layers with
// Layer, run Serve in a goroutine and call Close once. All methods are safe
// for concurrent use; the exported fields are not and must be set before
// Serve or Layer is first called.
type Mux struct {
	// TLSConfig, when non-nil, wraps both sides of every connection in TLS
	// before the header: accepted connections act as servers, Dial acts as
	// a client. It should require and verify client certificates (peers
	// are nodes). When ServerName is empty, Dial uses the host of the
	// address it dials.
	TLSConfig *tls.Config

	// HeaderTimeout bounds the header read (and TLS handshake) of each
	// accepted connection; zero means DefaultMuxHeaderTimeout.
	HeaderTimeout time.Duration

	// Advertise, when non-nil, is returned by every layer's Addr instead
	// of the listener's address. Raft puts Addr in its RPC headers and the
	// bootstrap configuration, so it must be reachable by peers: set it
	// when listening on 0.0.0.0 or behind NAT.
	Advertise net.Addr

	ln     net.Listener
	logger hclog.Logger

	mu      sync.Mutex
	closed  bool
	layers  map[string]*muxLayer
	pending map[net.Conn]struct{} // accepted, header not yet read

	closeCh chan struct{}
	wg      sync.WaitGroup // Serve and the header goroutines

	accepted     atomic.Uint64
	unknownGroup atomic.Uint64
	badHeader    atomic.Uint64

	// Unix nanoseconds of the last Warn per kind, for rateLimitedLog.
	unknownGroupLogged atomic.Int64
	badHeaderLogged    atomic.Int64
}

// muxWarnEvery is the most often a Mux logs each kind of rejected
// connection at Warn; the rest go to Debug (Stats counts them all).
const muxWarnEvery = 10 * time.Second

// MuxStats counts connections seen by a Mux since it was created. The
// counters only grow.
type MuxStats struct {
	// Accepted is the number of connections accepted from the listener.
	Accepted uint64
	// UnknownGroup is the number closed because their header named a group
	// with no open layer (a group not yet opened, or already shut down).
	UnknownGroup uint64
	// BadHeader is the number closed because the header was malformed,
	// had the wrong magic or version, failed TLS, or did not arrive within
	// HeaderTimeout.
	BadHeader uint64
}

// NewMux returns a Mux that will serve connections accepted from ln; it
// takes ownership of ln and closes it in Close. Nothing is accepted until
// Serve runs. A nil logger discards logs.
func NewMux(ln net.Listener, logger hclog.Logger) *Mux {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Mux{
		ln:      ln,
		logger:  logger.ResetNamed("warren.raft.mux"),
		layers:  make(map[string]*muxLayer),
		pending: make(map[net.Conn]struct{}),
		closeCh: make(chan struct{}),
	}
}

// Addr returns the address layers report: Advertise if set, else the
// listener's address.
func (m *Mux) Addr() net.Addr {
	if m.Advertise != nil {
		return m.Advertise
	}
	return m.ln.Addr()
}

// Stats returns a snapshot of the connection counters.
func (m *Mux) Stats() MuxStats {
	return MuxStats{
		Accepted:     m.accepted.Load(),
		UnknownGroup: m.unknownGroup.Load(),
		BadHeader:    m.badHeader.Load(),
	}
}

// Serve accepts connections until Close and returns nil after Close, or the
// listener's error if it fails for another reason. Each connection's header
// is read in its own goroutine, so a slow or silent client never blocks the
// accept loop. Call Serve at most once.
func (m *Mux) Serve() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	var delay time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if m.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Transient (EMFILE and the like): back off as net/http does
			// rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.logger.Error("accept failed", "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-m.closeCh:
				return nil
			}
		}
		delay = 0
		m.accepted.Add(1)
		if !m.track(conn) {
			conn.Close()
			return nil
		}
		go m.handshake(conn)
	}
}

// track registers an accepted connection as pending so Close can unblock its
// header read; it reports false once the mux is closed.
func (m *Mux) track(conn net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.pending[conn] = struct{}{}
	m.wg.Add(1)
	return true
}

func (m *Mux) untrack(conn net.Conn) {
	m.mu.Lock()
	delete(m.pending, conn)
	m.mu.Unlock()
}

func (m *Mux) isClosed() bool {
	select {
	case <-m.closeCh:
		return true
	default:
		return false
	}
}

// handshake reads the header of one accepted connection and hands it to the
// group's layer, or closes it.
func (m *Mux) handshake(raw net.Conn) {
	defer m.wg.Done()
	defer m.untrack(raw)

	timeout := m.HeaderTimeout
	if timeout <= 0 {
		timeout = DefaultMuxHeaderTimeout
	}
	conn := raw
	group, err := func() (string, error) {
		if err := raw.SetDeadline(time.Now().Add(timeout)); err != nil {
			return "", err
		}
		if m.TLSConfig != nil {
			tc := tls.Server(raw, m.TLSConfig)
			if err := tc.Handshake(); err != nil {
				return "", fmt.Errorf("tls handshake: %w", err)
			}
			conn = tc
		}
		group, err := readHeader(conn)
		if err != nil {
			return "", err
		}
		// Raft's transport sets its own deadlines per RPC; an idle
		// heartbeat connection must not inherit ours.
		return group, conn.SetDeadline(time.Time{})
	}()
	if err != nil {
		conn.Close()
		if m.isClosed() {
			return // Close interrupted the read; not the peer's fault
		}
		if errors.Is(err, io.EOF) {
			// Closed before sending a byte: a liveness probe (a
			// follower checking that its leader is up, leader_watch.go;
			// a load balancer's TCP check), not a bad header.
			return
		}
		n := m.badHeader.Add(1)
		m.rateLimitedLog(&m.badHeaderLogged, "rejected raft connection",
			"remote", raw.RemoteAddr().String(), "error", err, "total", n)
		return
	}

	m.mu.Lock()
	l := m.layers[group]
	m.mu.Unlock()
	if l == nil {
		n := m.unknownGroup.Add(1)
		// Peers redial a stopped group at their retry rate, so this
		// repeats while a group is down or K differs between nodes.
		m.rateLimitedLog(&m.unknownGroupLogged, "raft connection for unknown group",
			"group", group, "remote", raw.RemoteAddr().String(), "total", n)
		conn.Close()
		return
	}
	l.pass(conn, raw)
}

// readHeader reads exactly the mux header, never past it, so the first
// raft RPC byte stays in the connection for the transport.
func readHeader(r io.Reader) (string, error) {
	var fixed [3]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return "", fmt.Errorf("read header: %w", err)
	}
	if fixed[0] != muxMagic {
		return "", fmt.Errorf("bad magic byte %#x", fixed[0])
	}
	if fixed[1] != muxVersion {
		return "", fmt.Errorf("unsupported mux version %d", fixed[1])
	}
	if fixed[2] == 0 {
		return "", errors.New("empty group id")
	}
	id := make([]byte, fixed[2])
	if _, err := io.ReadFull(r, id); err != nil {
		return "", fmt.Errorf("read group id: %w", err)
	}
	return string(id), nil
}

// appendHeader appends the mux header for group to b.
func appendHeader(b []byte, group string) []byte {
	b = append(b, muxMagic, muxVersion, byte(len(group)))
	return append(b, group...)
}

// Layer registers group and returns its StreamLayer: Accept yields the
// connections whose header names group, Dial opens connections that name
// it, Addr is the mux address, and Close unregisters the group and closes
// every connection the layer accepted or dialed, without touching the mux
// or other groups. After Close the group name may be registered again (a
// group reopened in the same process).
//
// Layer panics if group is empty, longer than MaxGroupNameLen, or already
// registered by an open layer: two Raft instances behind one group id
// would corrupt each other, and that is a programming error. After Close
// of the mux, Layer returns an already closed layer.
func (m *Mux) Layer(group string) raft.StreamLayer {
	if group == "" || len(group) > MaxGroupNameLen {
		panic(fmt.Sprintf("raftgroup: invalid mux group id %q", group))
	}
	l := &muxLayer{
		mux:    m,
		group:  group,
		header: appendHeader(nil, group),
		connCh: make(chan net.Conn),
		done:   make(chan struct{}),
		conns:  make(map[*layerConn]struct{}),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		l.closed = true
		close(l.done)
		return l
	}
	if _, ok := m.layers[group]; ok {
		panic(fmt.Sprintf("raftgroup: mux group %q already has an open layer", group))
	}
	m.layers[group] = l
	return l
}

// Close stops accepting, closes the listener, every layer (their Accept
// returns an error) and every connection still sending its header, and
// waits for the mux goroutines to exit. It is idempotent; later calls
// return nil.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closeCh)
	layers := make([]*muxLayer, 0, len(m.layers))
	for _, l := range m.layers {
		layers = append(layers, l)
	}
	for c := range m.pending {
		c.Close()
	}
	m.mu.Unlock()

	err := m.ln.Close()
	for _, l := range layers {
		l.Close()
	}
	m.wg.Wait()
	return err
}

// unregister removes l from the group table if it is still the registered
// layer for its group.
func (m *Mux) unregister(l *muxLayer) {
	m.mu.Lock()
	if m.layers[l.group] == l {
		delete(m.layers, l.group)
	}
	m.mu.Unlock()
}

// rateLimitedLog logs at Warn if the last Warn recorded in last is older
// than muxWarnEvery, else at Debug.
func (m *Mux) rateLimitedLog(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev >= int64(muxWarnEvery) && last.CompareAndSwap(prev, now) {
		m.logger.Warn(msg, args...)
		return
	}
	m.logger.Debug(msg, args...)
}
