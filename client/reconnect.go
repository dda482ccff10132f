package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// conn is one gRPC connection to one of the client's addresses. Every RPC
// and stream records the conn it used, so that a failure is blamed on that
// conn and not on a newer one.
type conn struct {
	cc   *grpc.ClientConn
	api  warrenpb.BrokerServiceClient
	addr string
	idx  int // index in Client.addrs

	// retired is set before the client closes cc after a failover: calls
	// then fail with Canceled, which is a connection failure, not the
	// caller's cancellation.
	retired atomic.Bool
	// ok is set once an RPC or stream succeeded on cc; a conn that fails
	// before that makes the next reconnect back off first.
	ok atomic.Bool
	// unavailSince is when (Unix ns) calls on cc began to get only
	// Unavailable answers; 0 after any other answer (see hopAfter).
	unavailSince atomic.Int64
}

func newConn(cc *grpc.ClientConn, addrs []string, idx int) *conn {
	return &conn{cc: cc, api: warrenpb.NewBrokerServiceClient(cc), addr: addrs[idx], idx: idx}
}

// connHolder holds the current connection, swapped by failover.
type connHolder struct {
	mu      sync.Mutex
	cur     *conn         // nil while reconnecting and after Close
	ready   chan struct{} // closed when cur is set; replaced when a reconnect begins
	addr    string        // address of the last connection
	lastErr error         // why the last reconnect attempt failed
	bo      backoff       // reconnect rounds; reset when a conn proves itself
}

// conn returns the current connection, waiting (bounded by ctx) while the
// client reconnects. last is the caller's previous failure, for the error.
func (c *Client) conn(ctx context.Context, last error) (*conn, error) {
	for {
		if c.isClosed() {
			return nil, ErrClosed
		}
		c.conns.mu.Lock()
		cn, ready, dialErr := c.conns.cur, c.conns.ready, c.conns.lastErr
		c.conns.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if last == nil {
			last = dialErr
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, c.gaveUp(ctx, last)
		case <-c.ctx.Done():
			return nil, c.gaveUp(ctx, last)
		}
	}
}

// proven notes that a call succeeded on cn: the next failover starts its
// first round at once.
func (c *Client) proven(cn *conn) {
	cn.unavailSince.Store(0)
	if cn.ok.Load() || !cn.ok.CompareAndSwap(false, true) {
		return
	}
	c.conns.mu.Lock()
	if c.conns.cur == cn {
		c.conns.bo.reset()
	}
	c.conns.mu.Unlock()
}

// connFailed starts a failover away from cn, unless cn is no longer the
// current connection (someone else already started one) or the client is
// closing. It returns at once; calls wait in conn.
func (c *Client) connFailed(cn *conn, cause error) {
	c.conns.mu.Lock()
	if c.conns.cur != cn || c.ctx.Err() != nil {
		c.conns.mu.Unlock()
		return
	}
	c.conns.cur = nil
	c.conns.ready = make(chan struct{})
	c.conns.lastErr = cause
	c.conns.mu.Unlock()
	cn.retired.Store(true)
	c.state.set(Reconnecting)
	if !c.goroutine(func() { c.reconnect(cn) }) {
		_ = cn.cc.Close()
	}
}

// reconnect closes the failed connection and dials the addresses in order,
// starting after the failed one (which comes last), until one is ready or
// the client closes. Full rounds are separated by the backoff delay; the
// first round starts at once unless the failed connection never carried a
// successful call (then the node accepts connections but fails them, and
// the delay applies first).
func (c *Client) reconnect(failed *conn) {
	_ = failed.cc.Close()
	n := len(c.addrs)
	first := true
	for {
		if !first || !failed.ok.Load() {
			c.conns.mu.Lock()
			d := c.conns.bo.delay()
			c.conns.mu.Unlock()
			if !c.sleep(c.ctx, d) {
				return
			}
		}
		first = false
		for i := 1; i <= n; i++ {
			idx := (failed.idx + i) % n
			cc, err := dialAddr(c.ctx, c.addrs[idx], &c.opts)
			if c.ctx.Err() != nil {
				if cc != nil {
					_ = cc.Close()
				}
				return
			}
			if err != nil {
				c.conns.mu.Lock()
				c.conns.lastErr = status.Errorf(codes.Unavailable, "client: reconnect to %s: %v", c.addrs[idx], err)
				c.conns.mu.Unlock()
				continue
			}
			c.install(newConn(cc, c.addrs, idx))
			return
		}
	}
}

// install makes cn the current connection and wakes the waiting calls; it
// closes cn instead when the client is closing.
func (c *Client) install(cn *conn) {
	c.conns.mu.Lock()
	if c.ctx.Err() != nil {
		c.conns.mu.Unlock()
		_ = cn.cc.Close()
		return
	}
	c.conns.cur = cn
	c.conns.addr = cn.addr
	c.conns.lastErr = nil
	close(c.conns.ready)
	c.conns.mu.Unlock()
	c.state.set(Connected)
}

// closeConn closes the current connection at Close, after the client's
// goroutines (including a reconnect) have exited.
func (c *Client) closeConn() error {
	c.conns.mu.Lock()
	cn := c.conns.cur
	c.conns.cur = nil
	c.conns.mu.Unlock()
	if cn == nil {
		return nil
	}
	if err := cn.cc.Close(); err != nil {
		return fmt.Errorf("client: close connection to %s: %w", cn.addr, err)
	}
	return nil
}
