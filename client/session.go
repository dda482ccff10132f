package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// sessionHolder holds the client's current Session stream, opened lazily
// and re-opened after it breaks.
type sessionHolder struct {
	lock chan struct{} // one slot: held while checking or opening the stream
	cur  *session      // guarded by lock

	mu sync.Mutex // guards bo
	bo backoff    // delays re-opening a session that ended soon after opening
}

func (h *sessionHolder) init(c *Client) {
	h.lock = make(chan struct{}, 1)
	h.bo = c.newBackoff()
}

// session is one open Session stream.
type session struct {
	cn     *conn
	opened time.Time
	stream grpc.BidiStreamingClient[warrenpb.SessionRequest, warrenpb.SessionResponse]
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream has ended
	err    error         // why it ended; set before done is closed

	// The silence watch (watchSessionSilence), when the node sends
	// heartbeats.
	heard  atomic.Int64 // Unix ns of the last response
	silent atomic.Bool  // the watch ended the stream
}

func (s *session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// ensureSession opens the Session stream unless it is open already. It waits
// for the server's first response, bounded by ctx, so that the session is
// registered before the caller's request that depends on it. Opening is
// retried on Unavailable (after a failover when the connection failed) until
// ctx ends.
func (c *Client) ensureSession(ctx context.Context) error {
	select {
	case c.sess.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sess.lock }()
	if c.isClosed() {
		return ErrClosed
	}
	if s := c.sess.cur; s != nil && !s.ended() {
		return nil
	}
	var s *session
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		s, err = c.openSession(ctx, cn)
		return err
	})
	if err != nil {
		return err
	}
	c.sess.cur = s
	return nil
}

// openSession opens a Session stream on cn under the client's session id.
func (c *Client) openSession(ctx context.Context, cn *conn) (*session, error) {
	sctx, cancel := context.WithCancel(c.ctx)
	stream, err := cn.api.Session(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	// With direct consume on, the node tells of new queue group leaders,
	// so streams at a leader that went silent move at once (leaderMoved).
	first := &warrenpb.SessionRequest{
		SessionId: c.opts.sessionID, LeaderNotices: c.opts.directConsume,
		HeartbeatMs: uint32(c.opts.sessionHeartbeat / time.Millisecond),
	}
	if err := stream.Send(first); err != nil {
		// A failed Send reports io.EOF; the stream's status comes from Recv.
		_, rerr := stream.Recv()
		cancel()
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, rerr
		}
		return nil, err
	}
	stop := context.AfterFunc(ctx, cancel)
	resp, err := stream.Recv()
	if !stop() {
		return nil, ctx.Err()
	}
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: session stream ended before the server acknowledged it", ErrProtocol)
		}
		return nil, err
	}
	if id := resp.GetSessionId(); id != "" && id != c.opts.sessionID {
		cancel()
		return nil, fmt.Errorf("%w: session %q acknowledged as %q", ErrProtocol, c.opts.sessionID, id)
	}
	s := &session{cn: cn, opened: time.Now(), stream: stream, cancel: cancel, done: make(chan struct{})}
	s.heard.Store(time.Now().UnixNano())
	if !c.goroutine(func() { c.sessionRecv(s) }) {
		cancel()
		return nil, ErrClosed
	}
	if hb := time.Duration(resp.GetHeartbeatMs()) * time.Millisecond; hb > 0 {
		c.goroutine(func() { s.watchSilence(hb) })
	}
	if !c.goroutine(func() { c.sessionPing(s) }) {
		cancel() // sessionRecv sees it and exits
		return nil, ErrClosed
	}
	return s, nil
}

// sessionRecv drains the stream until it ends. The server has then released
// the session, so the outstanding gets are forgotten. While the client is
// open it then re-opens the session under the same id (after a failover when
// the connection failed), so that the server sees the session again without
// waiting for the next call that needs it.
func (c *Client) sessionRecv(s *session) {
	var err error
	for {
		var resp *warrenpb.SessionResponse
		if resp, err = s.stream.Recv(); err != nil {
			break
		}
		s.heard.Store(time.Now().UnixNano())
		if m := resp.GetLeaderMoved(); m != nil {
			c.leaderMoved(m.GetGroup(), m.GetLeaderGrpcAddr())
		}
	}
	if s.silent.Load() {
		err = status.Errorf(codes.Unavailable, "client: the session stream on %s heard nothing, not even a heartbeat, for %d heartbeat intervals: its node went silent", s.cn.addr, ConsumeSilenceIntervals)
	}
	s.err = err
	close(s.done)
	s.cancel()
	c.gets.reset()
	if c.ctx.Err() != nil {
		return
	}
	if s.silent.Load() {
		// Every call on the connection would hang as long: move now.
		c.connFailed(s.cn, err)
	}
	// A node ends a session stream with Unavailable only when it shuts
	// down (or the connection failed): move to another node at once. An
	// operator's close (SESSION_CLOSED) leaves node and connection fine;
	// closing the connection here would also end the session's consume
	// streams with "the client connection is closing" before the node's
	// own status reached them.
	if f := c.classify(s.cn, err); (f == failConn || f == failServer) && !operatorClosed(err) {
		c.connFailed(s.cn, err)
	}
	// A session that ends soon after opening is re-opened after a growing
	// delay, so that a node that keeps ending it is not hammered.
	c.sess.mu.Lock()
	var d time.Duration
	if time.Since(s.opened) < c.opts.backoffMax {
		d = c.sess.bo.delay()
	} else {
		c.sess.bo.reset()
	}
	c.sess.mu.Unlock()
	if d > 0 && !c.sleep(c.ctx, d) {
		return
	}
	// A failure here (other than Close) leaves the session to be opened
	// by the next call that needs it.
	_ = c.ensureSession(c.ctx)
}

// sessionPing sends a ping every session ping interval until the stream ends.
// It is the only sender after openSession, so sends need no lock.
func (c *Client) sessionPing(s *session) {
	t := time.NewTicker(c.opts.sessionPing)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if err := s.stream.Send(&warrenpb.SessionRequest{SessionId: c.opts.sessionID}); err != nil {
				return // sessionRecv reports the stream's end
			}
		}
	}
}

// watchSilence ends the session stream when it has heard nothing, not even
// a heartbeat, for ConsumeSilenceIntervals heartbeat intervals: the node
// went silent, and sessionRecv moves the client off its connection. It
// returns when the stream ends.
func (s *session) watchSilence(hb time.Duration) {
	watchSilence(hb, &s.heard, nil, s.done, nil, func() {
		s.silent.Store(true)
		s.cancel()
	})
}

// operatorClosed reports whether err is a node's end of a session an
// operator closed (reason SESSION_CLOSED).
func operatorClosed(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	reason, _ := warrenReason(st)
	return reason == reasonSessionClosed
}
