package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrorInfo reasons and domain set by Warren nodes (transport/errors.go).
const (
	errorDomain          = "warren"
	reasonNotLeader      = "NOT_LEADER"
	reasonOutcomeUnknown = "OUTCOME_UNKNOWN"
	reasonSessionClosed  = "SESSION_CLOSED"
	errorInfoTypeURL     = "type.googleapis.com/google.rpc.ErrorInfo"
)

// dedupWindow mirrors the server's per-producer deduplication window
// (fsm.DedupWindow): a retried sequence this far behind the producer's
// highest is taken for a duplicate, so the batcher never lets a request in
// flight fall that far behind (see seqWindow).
const dedupWindow = 4096

// hopAfter is how long a node whose connection works may answer only
// Unavailable (to every call) before the client moves to another address
// (when it has more than one). It is longer than a leader election, so a
// healthy cluster does not cause moves (a move ends the session: see the
// package documentation), while a node cut off from the rest of its cluster,
// which answers NOT_LEADER to writes, is left. A variable for tests.
var hopAfter = 10 * time.Second

// failure classifies why an attempt failed.
type failure int

const (
	// failOther is not retried: an answer (NotFound, InvalidArgument, …),
	// the caller's ctx, Close, or a protocol violation.
	failOther failure = iota
	// failNotLeader is Unavailable with reason NOT_LEADER: the node did not
	// act on the request. Retrying is always safe.
	failNotLeader
	// failServer is any other Unavailable answered by a node whose
	// connection is fine (OUTCOME_UNKNOWN, shutting down, leadership
	// moving): the request may or may not have taken effect.
	failServer
	// failConn is a failure of the connection (refused, closed, GOAWAY,
	// keepalive timeout, or closed by the client after a failover): the
	// request may or may not have reached the node.
	failConn
)

// retryPolicy says which failures a call retries.
type retryPolicy int

const (
	// retryUnavailable retries every Unavailable (and connection
	// failures) until ctx ends: for idempotent calls and for publishes,
	// which the server deduplicates.
	retryUnavailable retryPolicy = iota
	// retryUnsent retries only failures that prove the request took no
	// effect (NOT_LEADER): for Get and the Settle of a get.
	retryUnsent
)

func (p retryPolicy) retries(f failure) bool {
	switch f {
	case failNotLeader:
		return true
	case failServer, failConn:
		return p == retryUnavailable
	default:
		return false
	}
}

// classify tells why an attempt on cn failed with err.
func (c *Client) classify(cn *conn, err error) failure {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return failOther
	}
	switch st.Code() {
	case codes.Unavailable:
		if reason, ok := warrenReason(st); ok {
			if reason == reasonNotLeader {
				return failNotLeader
			}
			return failServer
		}
		// A plain Unavailable is gRPC's report of a broken connection, or a
		// node's while it shuts down or moves a stream; the connection's
		// state tells them apart (a lagging state update costs one retry).
		if cn.retired.Load() || cn.cc.GetState() != connectivity.Ready {
			return failConn
		}
		return failServer
	case codes.Canceled:
		// The client closed cn after a failover; the caller did not cancel.
		if cn.retired.Load() && c.ctx.Err() == nil {
			return failConn
		}
	}
	return failOther
}

// warrenReason returns the reason of the status's ErrorInfo detail in the
// "warren" domain.
func warrenReason(st *status.Status) (string, bool) {
	reason, _, ok := warrenErrorInfo(st)
	return reason, ok
}

// warrenErrorInfo returns the reason and the encoded google.rpc.ErrorInfo
// of the status's ErrorInfo detail in the "warren" domain. The detail is
// decoded by hand so the client does not depend on the genproto errdetails
// package.
func warrenErrorInfo(st *status.Status) (reason string, info []byte, ok bool) {
	for _, d := range st.Proto().GetDetails() {
		if d.GetTypeUrl() != errorInfoTypeURL {
			continue
		}
		reason, domain, ok := decodeErrorInfo(d.GetValue())
		if ok && domain == errorDomain {
			return reason, d.GetValue(), true
		}
	}
	return "", nil, false
}

// decodeErrorInfo reads fields 1 (reason) and 2 (domain) of an encoded
// google.rpc.ErrorInfo and skips the rest (3 is the metadata map).
func decodeErrorInfo(b []byte) (reason, domain string, ok bool) {
	ok = eachBytesField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			reason = string(v)
		case 2:
			domain = string(v)
		}
	})
	if !ok {
		return "", "", false
	}
	return reason, domain, true
}

// eachBytesField calls f with every length-delimited field of the encoded
// message b, skipping fields of other wire types; it reports false when b
// is malformed.
func eachBytesField(b []byte, f func(num protowire.Number, v []byte)) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			f(num, v)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// backoff is exponential backoff with jitter: each delay is drawn from
// [d/2, d], where d starts at min and doubles up to max. Not safe for
// concurrent use.
//
// Why not gRPC's own (issue 10 asked). gRPC backs off in two places, and
// neither fits what this one paces. Its connection backoff
// (grpc.WithConnectParams, package google.golang.org/grpc/backoff) paces a
// single ClientConn's redials of its one target; Warren's client instead
// closes a failed connection and moves through its address list itself,
// with a delay between full rounds, a first round at once after a
// connection that had worked (proven), and a reset when a new connection
// proves itself. It also paces re-subscribes (consume.go), re-opening the
// session stream (session.go), and retries of a call that a node answered
// with NOT_LEADER or OUTCOME_UNKNOWN on a connection that is fine (call,
// batcher.go): answers, not connection failures. gRPC's retry policy (the
// service config's retryPolicy) retries a call by status code on the same
// channel, but cannot follow a NOT_LEADER's leader address, switch
// connections, keep a retried publish's publisher id and sequence numbers,
// or stop at WithReconnectBackoff's documented bounds. And the exponential
// strategy both use, grpc/internal/backoff, is internal: only its Config
// struct is exported, with no function to draw a delay. What remains is
// these fifteen lines, which a library (cenkalti/backoff) would not
// shorten: the decisions are in the callers.
type backoff struct {
	min, max time.Duration
	next     time.Duration // 0: start at min
}

func (c *Client) newBackoff() backoff {
	return backoff{min: c.opts.backoffMin, max: c.opts.backoffMax}
}

// delay returns the next delay and doubles the one after it.
func (b *backoff) delay() time.Duration {
	d := b.next
	if d == 0 {
		d = b.min
	}
	b.next = min(2*d, b.max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset makes the next delay min again.
func (b *backoff) reset() { b.next = 0 }

// sleep waits for d, for ctx to end, or for Close; it reports whether the
// whole d passed.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.ctx.Done():
		return false
	}
}

// call runs attempt on the current connection, and after a failure that p
// retries runs it again (after a failover, or after a backoff delay when the
// connection is fine) until it succeeds, fails otherwise, ctx ends, or the
// client closes. attempt must build its request anew each time if it
// depends on state that changes (e.g. the meta index).
func (c *Client) call(ctx context.Context, p retryPolicy, attempt func(ctx context.Context, cn *conn) error) error {
	bo := c.newBackoff()
	var last error
	for {
		cn, err := c.conn(ctx, last)
		if err != nil {
			return err
		}
		retry := last != nil
		err = attempt(ctx, cn)
		if err == nil {
			c.proven(cn)
			return nil
		}
		f := c.classify(cn, err)
		if f == failConn || c.shouldHop(cn, f) {
			c.connFailed(cn, err)
		}
		if last != nil && ctx.Err() != nil && cancelled(err) {
			return c.gaveUp(ctx, last)
		}
		if !p.retries(f) || c.isClosed() {
			return c.rpcError(connError(cn, f, err))
		}
		last = connError(cn, f, err)
		if ctx.Err() != nil {
			return c.gaveUp(ctx, last)
		}
		// The first retry goes at once: the answer was most often a
		// leader that changed a moment ago, and the node has a new one
		// (or holds the call until it has). Later ones back off.
		if f != failConn && retry && !c.sleep(ctx, bo.delay()) {
			return c.gaveUp(ctx, last)
		}
	}
}

// shouldHop records failure f on cn and reports whether calls should move
// to another address: cn's node has answered nothing but Unavailable, to
// every call, for hopAfter. The time counts across calls, so a producer
// whose every publish has a short deadline still leaves a node cut off
// from its cluster.
func (c *Client) shouldHop(cn *conn, f failure) bool {
	if f != failNotLeader && f != failServer {
		if f == failOther {
			cn.unavailSince.Store(0)
		}
		return false
	}
	now := time.Now().UnixNano()
	cn.unavailSince.CompareAndSwap(0, now)
	return now-cn.unavailSince.Load() >= int64(hopAfter) && len(c.addrs) > 1
}

// connError turns the Canceled status of a call cut off by a failover (the
// client closed its connection) into Unavailable, which is what happened
// from the caller's point of view; other errors are returned as they are.
func connError(cn *conn, f failure, err error) error {
	if f == failConn && status.Code(err) == codes.Canceled {
		return status.Errorf(codes.Unavailable, "client: connection to %s failed: %v", cn.addr, err)
	}
	return err
}

// cancelled reports whether err is the status of an RPC whose context ended.
func cancelled(err error) bool {
	code := status.Code(err)
	return code == codes.Canceled || code == codes.DeadlineExceeded
}

// gaveUp is the error of a call that stopped retrying because ctx ended or
// the client closed; it wraps both that reason and the last failure, so
// errors.Is(err, context.DeadlineExceeded) and status.Code(err) both work.
func (c *Client) gaveUp(ctx context.Context, last error) error {
	var why error = ErrClosed
	if !c.isClosed() && c.ctx.Err() == nil {
		why = context.Cause(ctx)
	}
	if last == nil {
		return fmt.Errorf("client: no connection: %w", why)
	}
	return fmt.Errorf("client: %w; last error: %w", why, last)
}
