package client

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// Consume streams subscribe at the leader of their queue's Raft group when
// they can: the first Subscribe goes to the current node with direct set; a
// node that does not lead the group answers NOT_LEADER with the leader's
// gRPC address, and the stream opens on a connection to that node instead.
// Every delivery and ack then skips the proxy hop through the first node.
// Whenever that fails (the leader cannot be dialled, or has lost the
// leadership by the time the stream arrives), the stream opens through the
// current node, which proxies it, as without this. The direct connections
// are never the client's current connection: their failure ends only the
// streams on them (Consume subscribes again) and never moves the client.

// directRetryAfter is how long an address that could not be dialled is not
// tried again for a direct stream (it may be unreachable from here, behind
// a NAT or a firewall, while the nodes reach it).
const directRetryAfter = 30 * time.Second

// errDirectUnreachable is directConn's answer for an address whose last
// dial failed less than directRetryAfter ago.
var errDirectUnreachable = errors.New("client: leader address recently unreachable")

// directConns holds the connections to other nodes used by direct streams.
type directConns struct {
	mu     sync.Mutex
	conns  map[string]*conn
	failed map[string]time.Time // address → when its last dial failed
}

// subscribeAtLeader opens the subscription at the queue's leader when the
// option allows it and cn's node names another leader; otherwise, and when
// that fails with anything but a refusal (NotFound, InvalidArgument, …), it
// opens it through cn.
func (c *Client) subscribeAtLeader(ctx context.Context, cn *conn, queue string, o ConsumeOptions) (*Subscription, error) {
	if !c.opts.directConsume {
		return c.subscribe(ctx, cn, queue, o, false)
	}
	s, err := c.subscribe(ctx, cn, queue, o, true)
	to, ok := leaderRedirect(err)
	if !ok {
		return s, err // subscribed at cn's node, or a failure for Subscribe's retries
	}
	// The leader must know what cn's node knew (the queue, declared maybe
	// by another client a moment ago): the next Subscribe carries it.
	c.observeMetaIndex(to.metaIndex)
	if to.addr != cn.addr {
		if dc, derr := c.directConn(ctx, to.addr); derr == nil {
			s, err = c.subscribe(ctx, dc, queue, o, false)
			if err == nil || c.classify(dc, err) == failOther {
				return s, err // subscribed, or refused by the leader (NotFound, …)
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return c.subscribe(ctx, cn, queue, o, false)
}

// directConn returns a connection to addr for direct streams, dialling it
// when there is none or the one held has failed.
func (c *Client) directConn(ctx context.Context, addr string) (*conn, error) {
	c.direct.mu.Lock()
	old := c.direct.conns[addr]
	if old != nil {
		switch old.cc.GetState() {
		case connectivity.TransientFailure, connectivity.Shutdown:
		default:
			c.direct.mu.Unlock()
			return old, nil
		}
	}
	if t, ok := c.direct.failed[addr]; ok && time.Since(t) < directRetryAfter {
		c.direct.mu.Unlock()
		return nil, errDirectUnreachable
	}
	c.direct.mu.Unlock()

	cc, err := dialAddr(ctx, addr, &c.opts)
	c.direct.mu.Lock()
	defer c.direct.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			if c.direct.failed == nil {
				c.direct.failed = map[string]time.Time{}
			}
			c.direct.failed[addr] = time.Now()
		}
		return nil, err
	}
	if c.isClosed() {
		_ = cc.Close()
		return nil, ErrClosed
	}
	if cur := c.direct.conns[addr]; cur != nil && cur != old {
		// Another subscription dialled it meanwhile: use that one.
		_ = cc.Close()
		return cur, nil
	}
	if old != nil {
		old.retired.Store(true)
		_ = old.cc.Close()
	}
	if c.direct.conns == nil {
		c.direct.conns = map[string]*conn{}
	}
	cn := &conn{cc: cc, api: warrenpb.NewBrokerServiceClient(cc), addr: addr, idx: -1}
	c.direct.conns[addr] = cn
	delete(c.direct.failed, addr)
	return cn, nil
}

// readyDirectConn returns the direct connection to addr when there is one
// that has not failed, without dialling.
func (c *Client) readyDirectConn(addr string) *conn {
	c.direct.mu.Lock()
	defer c.direct.mu.Unlock()
	cn := c.direct.conns[addr]
	if cn == nil {
		return nil
	}
	switch cn.cc.GetState() {
	case connectivity.TransientFailure, connectivity.Shutdown:
		return nil
	}
	return cn
}

// closeDirect closes every direct connection, at Close after the streams
// on them have ended.
func (c *Client) closeDirect() {
	c.direct.mu.Lock()
	defer c.direct.mu.Unlock()
	for addr, cn := range c.direct.conns {
		cn.retired.Store(true)
		_ = cn.cc.Close()
		delete(c.direct.conns, addr)
	}
}

// redirect is what a NOT_LEADER answer to a direct Subscribe tells.
type redirect struct {
	addr      string // the leader's gRPC address
	metaIndex uint64 // the answering node's applied meta index
}

// leaderRedirect returns the leader_grpc_addr and meta_index of a
// NOT_LEADER answer; ok is false when err is no such answer or names no
// gRPC address.
func leaderRedirect(err error) (to redirect, ok bool) {
	st, isStatus := status.FromError(err)
	if !isStatus || err == nil {
		return redirect{}, false
	}
	reason, info, found := warrenErrorInfo(st)
	if !found || reason != reasonNotLeader {
		return redirect{}, false
	}
	addr := errorInfoMetadata(info, "leader_grpc_addr")
	if addr == "" {
		return redirect{}, false
	}
	idx, _ := strconv.ParseUint(errorInfoMetadata(info, "meta_index"), 10, 64)
	return redirect{addr: addr, metaIndex: idx}, true
}

// errorInfoMetadata returns the value of key in the metadata map (field 3,
// entries of key 1 and value 2) of an encoded google.rpc.ErrorInfo.
func errorInfoMetadata(b []byte, key string) string {
	var found string
	eachBytesField(b, func(num protowire.Number, entry []byte) {
		if num != 3 || found != "" {
			return
		}
		var k, v string
		if eachBytesField(entry, func(num protowire.Number, x []byte) {
			switch num {
			case 1:
				k = string(x)
			case 2:
				v = string(x)
			}
		}) && k == key {
			found = v
		}
	})
	return found
}

// leaderMoved ends the direct streams on queue group group that run at
// another node than its new leader at addr (told on the session stream):
// Consume subscribes them again at once, at the new leader. A leader that
// went silent would otherwise hold them until their heartbeat limit.
// Streams through the client's own node are left alone: that node ends
// its proxied streams itself when the leader moves.
func (c *Client) leaderMoved(group, addr string) {
	if group == "" || addr == "" {
		return
	}
	c.mu.Lock()
	var moved []*Subscription
	for s := range c.subs {
		if s.group == group && s.cn.idx < 0 && s.cn.addr != addr {
			moved = append(moved, s)
		}
	}
	c.mu.Unlock()
	for _, s := range moved {
		s.moved.Store(true)
		s.cancel()
	}
}
