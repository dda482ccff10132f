package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Client is a connection to a Warren cluster with one session and one
// publish batcher. It is safe for concurrent use by many goroutines. Create it
// with New and release it with Close.
type Client struct {
	opts  options
	addrs []string
	conns connHolder
	state *stateReporter

	// ctx lives until Close; streams and publish requests derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	metaIndex atomic.Uint64

	pub  *batcher
	sess sessionHolder
	// direct holds connections to queue leaders for consume streams.
	direct directConns
	gets   ledger // outstanding deliveries taken with Get (manual ack)

	mu     sync.Mutex // guards closed, subs and wg.Add
	closed bool
	subs   map[*Subscription]struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New connects to a Warren cluster. It tries addrs ("host:port") in order and
// keeps the first connection that becomes ready within the connect timeout
// (see WithConnectTimeout); ctx bounds the whole attempt. When no address
// works the error has code Unavailable and names each failure; when ctx ends
// first the error wraps ctx.Err(). Options are applied over the defaults
// documented on each With… function. The client keeps addrs for failover
// (see the package documentation).
func New(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(addrs) == 0 {
		return nil, invalid("no addresses")
	}
	if o.onState != nil {
		o.onState(Connecting)
	}
	cc, idx, err := dial(ctx, addrs, &o)
	if err != nil {
		if o.onState != nil {
			o.onState(Closed)
		}
		return nil, err
	}
	c := &Client{
		opts:  o,
		addrs: slices.Clone(addrs),
		state: newStateReporter(o.onState),
		subs:  make(map[*Subscription]struct{}),
	}
	cn := newConn(cc, c.addrs, idx)
	cn.ok.Store(true) // dialled in New: the first failover round starts at once
	c.conns.cur, c.conns.addr = cn, cn.addr
	c.conns.ready = make(chan struct{})
	close(c.conns.ready)
	c.conns.bo = c.newBackoff()
	c.state.cur = Connected
	if o.onState != nil {
		o.onState(Connected)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.sess.init(c)
	c.gets.init()
	c.pub = newBatcher(c)
	c.goroutine(c.pub.run)
	if o.onState != nil {
		c.goroutine(func() { c.state.run(c.ctx.Done()) })
	}
	return c, nil
}

// Addr returns the address (as given to New) of the node the client is
// connected to, or while it reconnects, was last connected to.
func (c *Client) Addr() string {
	c.conns.mu.Lock()
	defer c.conns.mu.Unlock()
	return c.conns.addr
}

// State returns the client's connection state (see WithStateChange).
func (c *Client) State() State { return c.state.get() }

// SessionID returns the client's session id. It does not change for the life
// of the Client.
func (c *Client) SessionID() string { return c.opts.sessionID }

// PublisherID returns the publisher id sent with every publish.
func (c *Client) PublisherID() string { return c.opts.publisherID }

// MetaIndex returns the highest meta index this client has seen in a
// response; later requests ask the server to have applied at least that much.
func (c *Client) MetaIndex() uint64 { return c.metaIndex.Load() }

// observeMetaIndex raises the remembered meta index to i if it is higher.
func (c *Client) observeMetaIndex(i uint64) {
	for {
		cur := c.metaIndex.Load()
		if i <= cur || c.metaIndex.CompareAndSwap(cur, i) {
			return
		}
	}
}

// goroutine runs f on a new goroutine that Close waits for. It returns false,
// without running f, once Close has begun.
func (c *Client) goroutine(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// isClosed reports whether Close has begun.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// track registers a live subscription for Close.
func (c *Client) track(s *Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs[s] = struct{}{}
}

// untrack forgets a subscription that has ended.
func (c *Client) untrack(s *Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.subs, s)
}

// Close ends the client: publishes still queued fail with ErrClosed, requests
// in flight are cancelled (their outcome is unknown; wait on futures before
// Close to avoid that), subscriptions are closed as by Subscription.Close
// (settles already sent are processed; the server returns the unacked
// deliveries to the queues), the session stream ends (the server releases the
// session's gets and exclusive queues), a reconnect in progress stops, and
// the connection closes; the state becomes Closed. Close
// waits for the client's goroutines to exit. It is idempotent and safe to call
// concurrently; every call returns the result of the first.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		subs := make([]*Subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		c.state.set(Closed)
		c.pub.stopAccepting()
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.Close()
			}()
		}
		wg.Wait()
		c.cancel() // ends the session stream, subscriptions and requests
		c.wg.Wait()
		c.pub.failQueued()
		c.closeDirect()
		c.closeErr = c.closeConn()
	})
	return c.closeErr
}

// rpcError returns err from an RPC unchanged, or wrapped with ErrClosed when
// the RPC failed because Close ran. Either way its gRPC status is kept.
func (c *Client) rpcError(err error) error {
	if c.isClosed() && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
