package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// entryOverhead is added to each entry's encoded size for its sequence
// number and framing inside the request.
const entryOverhead = 16

// pending is one publish waiting for its batch.
type pending struct {
	entry *warrenpb.PublishEntry
	size  int
	ctx   context.Context
	fut   *PublishFuture
}

// batcher coalesces publishes into PublishRequests. One goroutine (run)
// assembles batches in arrival order and numbers their entries; each batch
// is sent on its own goroutine, at most publishInFlight at a time.
type batcher struct {
	c     *Client
	in    chan *pending
	slots chan struct{} // a token per request in flight
	freed chan struct{} // a token (at most one) after a request's slot is freed
	stop  chan struct{} // closed when Close begins

	mu     sync.RWMutex // enqueue holds it shared; stopAccepting exclusively
	closed bool

	carry *pending // owned by run: did not fit the previous batch
	seq   uint64   // owned by run: the last sequence number given out

	window seqWindow

	// leader is the gRPC address the last answer named as the leader of
	// every queue group its messages went to (PublishResponse's
	// leader_grpc_addr), nil for none: publishes go there, on a direct
	// connection, and skip the hop through the current node. A worker's
	// producer publishes to one queue, whose leader that is.
	leader  atomic.Pointer[string]
	dialing atomic.Bool // leaderDial is dialling
}

func newBatcher(c *Client) *batcher {
	o := &c.opts
	return &batcher{
		c:     c,
		in:    make(chan *pending, min(o.batchMessages*o.publishInFlight, 1<<14)),
		slots: make(chan struct{}, o.publishInFlight),
		freed: make(chan struct{}, 1),
		stop:  make(chan struct{}),
		window: seqWindow{
			firsts:  make(map[uint64]struct{}),
			changed: make(chan struct{}),
		},
	}
}

// enqueue hands p to run, or completes its future when it cannot.
func (b *batcher) enqueue(ctx context.Context, p *pending) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		p.fut.complete(PublishResult{}, ErrClosed)
		return
	}
	if err := ctx.Err(); err != nil {
		p.fut.complete(PublishResult{}, err)
		return
	}
	p.size += entryOverhead
	select {
	case b.in <- p:
	case <-ctx.Done():
		p.fut.complete(PublishResult{}, ctx.Err())
	case <-b.stop:
		p.fut.complete(PublishResult{}, ErrClosed)
	}
}

// stopAccepting makes every later enqueue fail with ErrClosed and stops run.
// Once it returns, nothing more enters b.in.
func (b *batcher) stopAccepting() {
	close(b.stop)
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// failQueued fails what is left in b.in; Close calls it after run exited.
func (b *batcher) failQueued() {
	for {
		select {
		case p := <-b.in:
			p.fut.complete(PublishResult{}, ErrClosed)
		default:
			return
		}
	}
}

// run assembles and sends batches until Close.
func (b *batcher) run() {
	defer func() {
		if b.carry != nil {
			b.carry.fut.complete(PublishResult{}, ErrClosed)
			b.carry = nil
		}
	}()
	for {
		select {
		case b.slots <- struct{}{}:
		case <-b.stop:
			return
		}
		batch, open := b.collect()
		if open && len(batch) > 0 {
			first, last := batch[0].entry.GetSequence(), batch[len(batch)-1].entry.GetSequence()
			if b.window.acquire(first, last, b.stop) {
				if b.c.goroutine(func() { b.send(batch) }) {
					continue
				}
				b.window.release(first)
			}
			open = false
		}
		<-b.slots
		failAll(batch, ErrClosed)
		if !open {
			return
		}
	}
}

// collect assembles one batch: it waits for a first entry, then takes more
// until the batch is full (count or bytes) or — while other requests are
// in flight — the batch delay has passed.
// open is false when Close began; the entries in batch are then unsent.
func (b *batcher) collect() (batch []*pending, open bool) {
	o := &b.c.opts
	size := 0
	for len(batch) == 0 {
		p := b.carry
		b.carry = nil
		if p == nil {
			select {
			case p = <-b.in:
			case <-b.stop:
				return nil, false
			}
		}
		if b.admit(p) {
			batch, size = append(batch, p), p.size
		}
	}
	// Wait for more entries only while at least half the request slots
	// are taken by others (this batch's slot is one of len(b.slots)), and
	// only until one is answered (b.freed) or the delay passes: then the
	// server is busy and a fuller request costs nothing in latency. With
	// fewer in flight, whatever is queued goes at once, as Nagle's
	// algorithm does with nothing in flight, so a publish at light load
	// waits neither the delay (1 ms of a ~2 ms confirm, README
	// "Benchmark") nor the previous publish's confirm (at 1,000 msg/s a
	// publish most often finds the one before still in flight: waiting for
	// it cost a third of the median confirm).
	var timeout <-chan time.Time
	if o.batchDelay > 0 {
		t := time.NewTimer(o.batchDelay)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < o.batchMessages {
		var p *pending
		select {
		case p = <-b.in:
		default:
			if timeout == nil || len(b.slots) <= busySlots(o.publishInFlight) {
				return batch, true
			}
			select {
			case p = <-b.in:
			case <-b.freed:
				continue // look again at what is in flight
			case <-timeout:
				return batch, true
			case <-b.stop:
				return batch, false
			}
		}
		if size+p.size > o.batchBytes {
			b.carry = p
			return batch, true
		}
		if b.admit(p) {
			batch, size = append(batch, p), size+p.size
		}
	}
	return batch, true
}

// busySlots is how many requests in flight, this one's included, still
// send a batch at once: up to half the slots (one of one).
func busySlots(inFlight int) int { return max(1, inFlight/2) }

// admit numbers p for sending, or completes it when its ctx is already done.
func (b *batcher) admit(p *pending) bool {
	if err := p.ctx.Err(); err != nil {
		p.fut.complete(PublishResult{}, err)
		return false
	}
	b.seq++
	p.entry.Sequence = b.seq
	return true
}

// send sends one batch and completes its futures; it releases the slot that
// run took for it. A request that fails with Unavailable (a failed
// connection, NOT_LEADER, OUTCOME_UNKNOWN) is sent again, after a failover or
// a backoff delay, with the same publisher id and sequence numbers, so the
// server enqueues each message at most once. It is retried until it gets an
// answer, the client closes, or every caller's ctx has ended; each attempt is
// bounded as requestContext says.
func (b *batcher) send(batch []*pending) {
	defer func() {
		<-b.slots
		select {
		case b.freed <- struct{}{}:
		default: // collect will look at b.slots anyway
		}
	}()
	defer b.window.release(batch[0].entry.GetSequence())
	entries := make([]*warrenpb.PublishEntry, len(batch))
	for i, p := range batch {
		entries[i] = p.entry
	}
	wctx, stop := b.waitContext(batch)
	defer stop()
	bo := b.c.newBackoff()
	var last error
	direct := b.c.opts.directPublish
	for {
		cn, err := b.c.conn(wctx, last)
		if err != nil {
			failAll(batch, err)
			return
		}
		retry := last != nil
		to := cn
		if direct {
			to = b.leaderConn(cn)
		}
		ctx, cancel := b.requestContext(batch)
		actx, acancel := ctx, context.CancelFunc(func() {})
		if to != cn {
			actx, acancel = context.WithTimeout(ctx, directPublishPatience)
		}
		resp, err := to.api.Publish(actx, &warrenpb.PublishRequest{
			PublisherId:  b.c.opts.publisherID,
			Entries:      entries,
			MinMetaIndex: b.c.MetaIndex(),
		})
		impatient := actx.Err() != nil && ctx.Err() == nil
		acancel()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil {
			if to == cn {
				b.c.proven(cn)
			}
			b.noteLeader(to, resp.GetLeaderGrpcAddr())
			b.complete(batch, resp)
			return
		}
		if to != cn {
			// The leader answered (a refusal any node would give), or its
			// connection failed or it did not answer in time: then the
			// batch goes through the current node at once, which takes any
			// publish (a retry with the same sequences, deduplicated), and
			// the leader is forgotten.
			if f := b.c.classify(to, err); f == failOther && !impatient {
				failAll(batch, b.c.rpcError(connError(to, f, err)))
				return
			}
			b.forgetLeader(to.addr)
			direct = false
			continue
		}
		f := b.c.classify(cn, err)
		if f == failConn || b.c.shouldHop(cn, f) {
			b.c.connFailed(cn, err)
		}
		if last != nil && timedOut && cancelled(err) {
			failAll(batch, b.c.gaveUp(ctx, last))
			return
		}
		if !retryUnavailable.retries(f) || b.c.isClosed() {
			failAll(batch, b.c.rpcError(connError(cn, f, err)))
			return
		}
		last = connError(cn, f, err)
		for _, p := range batch {
			p.fut.noteFailure(last)
		}
		if wctx.Err() != nil {
			failAll(batch, b.c.gaveUp(wctx, last))
			return
		}
		// As in call: the first retry at once, later ones back off.
		if f != failConn && retry && !b.c.sleep(wctx, bo.delay()) {
			failAll(batch, b.c.gaveUp(wctx, last))
			return
		}
	}
}

// directPublishPatience bounds a publish sent directly to a leader. A
// paused or cut-off leader closes nothing, and gRPC's keepalive would tell
// only after 15 s; the node the client is connected to learns of the
// silence within an election (it then holds the publish for the new
// leader), and a direct publish answers in milliseconds at ordinary loads.
// After this long the batch goes through the connected node instead.
const directPublishPatience = 500 * time.Millisecond

// leaderConn is the direct connection to the leader the last answer named,
// or cn when none was named, it is cn's node, or there is no connection
// to it ready now. A missing connection is dialled in the background
// (leaderDial) while publishes go through cn: a dial never holds up a
// publish, not even toward an address that drops packets, where it would
// wait out the connect timeout.
func (b *batcher) leaderConn(cn *conn) *conn {
	addr := b.leader.Load()
	if addr == nil || *addr == cn.addr {
		return cn
	}
	if dc := b.c.readyDirectConn(*addr); dc != nil {
		return dc
	}
	b.leaderDial(*addr)
	return cn
}

// leaderDial dials addr for direct publishes, once at a time, in the
// background; when it fails, the leader is forgotten (directConn then
// refuses the address for a while).
func (b *batcher) leaderDial(addr string) {
	if !b.dialing.CompareAndSwap(false, true) {
		return
	}
	if !b.c.goroutine(func() {
		defer b.dialing.Store(false)
		if _, err := b.c.directConn(b.c.ctx, addr); err != nil {
			b.forgetLeader(addr)
		}
	}) {
		b.dialing.Store(false)
	}
}

// forgetLeader drops addr as the leader publishes go to, unless another
// answer named a leader since.
func (b *batcher) forgetLeader(addr string) {
	if cur := b.leader.Load(); cur != nil && *cur == addr {
		b.leader.CompareAndSwap(cur, nil)
	}
}

// noteLeader records the leader an answer from to named: the next
// publishes go there. An answer that names none leaves the choice as it is
// (the leader itself names none, and neither does a node whose publish
// went to groups with different leaders).
func (b *batcher) noteLeader(to *conn, addr string) {
	if addr == "" || addr == to.addr {
		return
	}
	b.leader.Store(&addr)
}

// complete completes the futures of batch from the server's answer.
func (b *batcher) complete(batch []*pending, resp *warrenpb.PublishResponse) {
	results := resp.GetResults()
	if len(results) != len(batch) {
		failAll(batch, fmt.Errorf("%w: %d publish results for %d entries", ErrProtocol, len(results), len(batch)))
		return
	}
	for i, p := range batch {
		p.fut.complete(resultFromProto(results[i]))
	}
}

// requestContext derives the context of one attempt from the client's: it
// ends at Close, and at the latest deadline of the batch's callers when every
// caller has one. Cancelling a caller's ctx does not withdraw a request
// already sent.
func (b *batcher) requestContext(batch []*pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(b.c.ctx)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(b.c.ctx, latest)
}

// waitContext returns a context that ends at Close or once every caller's
// ctx in batch has ended: nobody waits for the outcome any more, so the
// request is not retried further.
func (b *batcher) waitContext(batch []*pending) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(b.c.ctx)
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, p := range batch {
		stops[i] = context.AfterFunc(p.ctx, func() {
			if left.Add(-1) == 0 {
				cancel(context.Cause(p.ctx)) // the last caller's reason
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel(nil)
	}
}

// seqWindow keeps the requests in flight within the server's deduplication
// window: a request is sent only while its last sequence is less than
// dedupWindow ahead of the first sequence of every request still in flight.
// Otherwise a request retried for long, while later ones commit, would fall
// out of the window and its retry would be taken for a duplicate and
// dropped.
type seqWindow struct {
	mu      sync.Mutex
	firsts  map[uint64]struct{} // first sequences of the requests in flight
	changed chan struct{}       // closed and replaced by release
}

// acquire waits until a request with sequences [first, last] may be sent,
// and records it in flight; it returns false when stop is closed first.
func (w *seqWindow) acquire(first, last uint64, stop <-chan struct{}) bool {
	for {
		w.mu.Lock()
		low := first
		for f := range w.firsts {
			low = min(low, f)
		}
		if last-low < dedupWindow || low == first {
			w.firsts[first] = struct{}{}
			w.mu.Unlock()
			return true
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case <-changed:
		case <-stop:
			return false
		}
	}
}

// release records that the request starting at first is no longer in flight.
func (w *seqWindow) release(first uint64) {
	w.mu.Lock()
	delete(w.firsts, first)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func failAll(batch []*pending, err error) {
	for _, p := range batch {
		p.fut.complete(PublishResult{}, err)
	}
}
