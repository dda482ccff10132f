package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// sessionHolder holds the client's current Session stream, opened lazily.
type sessionHolder struct {
	lock chan struct{} // one slot: held while checking or opening the stream
	cur  *session      // guarded by lock
}

func (h *sessionHolder) init() { h.lock = make(chan struct{}, 1) }

// session is one open Session stream.
type session struct {
	stream grpc.BidiStreamingClient[warrenpb.SessionRequest, warrenpb.SessionResponse]
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream has ended
	err    error         // why it ended; set before done is closed
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
// registered before the caller's request that depends on it.
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
	s, err := c.openSession(ctx)
	if err != nil {
		if c.isClosed() {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return err
	}
	c.sess.cur = s
	return nil
}

func (c *Client) openSession(ctx context.Context) (*session, error) {
	sctx, cancel := context.WithCancel(c.ctx)
	stream, err := c.broker().Session(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := stream.Send(&warrenpb.SessionRequest{SessionId: c.opts.sessionID}); err != nil {
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
	s := &session{stream: stream, cancel: cancel, done: make(chan struct{})}
	if !c.goroutine(func() { c.sessionRecv(s) }) {
		cancel()
		return nil, ErrClosed
	}
	if !c.goroutine(func() { c.sessionPing(s) }) {
		cancel() // sessionRecv sees it and exits
		return nil, ErrClosed
	}
	return s, nil
}

// sessionRecv drains the stream until it ends. The server has then released
// the session, so the outstanding gets are forgotten.
func (c *Client) sessionRecv(s *session) {
	for {
		if _, err := s.stream.Recv(); err != nil {
			s.err = err
			close(s.done)
			s.cancel()
			c.gets.reset()
			return
		}
	}
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
