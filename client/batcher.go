package client

import (
	"context"
	"fmt"
	"sync"
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
	stop  chan struct{} // closed when Close begins

	mu     sync.RWMutex // enqueue holds it shared; stopAccepting exclusively
	closed bool

	carry *pending // owned by run: did not fit the previous batch
	seq   uint64   // owned by run: the last sequence number given out
}

func newBatcher(c *Client) *batcher {
	o := &c.opts
	return &batcher{
		c:     c,
		in:    make(chan *pending, min(o.batchMessages*o.publishInFlight, 1<<14)),
		slots: make(chan struct{}, o.publishInFlight),
		stop:  make(chan struct{}),
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
		if open && len(batch) > 0 && b.c.goroutine(func() { b.send(batch) }) {
			continue
		}
		<-b.slots
		failAll(batch, ErrClosed)
		if !open {
			return
		}
	}
}

// collect assembles one batch: it waits for a first entry, then takes more
// until the batch is full (count or bytes) or the batch delay has passed.
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
			if timeout == nil {
				return batch, true
			}
			select {
			case p = <-b.in:
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
// run took for it.
func (b *batcher) send(batch []*pending) {
	defer func() { <-b.slots }()
	entries := make([]*warrenpb.PublishEntry, len(batch))
	for i, p := range batch {
		entries[i] = p.entry
	}
	ctx, cancel := b.requestContext(batch)
	defer cancel()
	resp, err := b.c.broker().Publish(ctx, &warrenpb.PublishRequest{
		PublisherId:  b.c.opts.publisherID,
		Entries:      entries,
		MinMetaIndex: b.c.MetaIndex(),
	})
	if err != nil {
		failAll(batch, b.c.rpcError(err))
		return
	}
	results := resp.GetResults()
	if len(results) != len(batch) {
		failAll(batch, fmt.Errorf("%w: %d publish results for %d entries", ErrProtocol, len(results), len(batch)))
		return
	}
	for i, p := range batch {
		p.fut.complete(resultFromProto(results[i]))
	}
}

// requestContext derives the request's context from the client's: it ends at
// Close, and at the latest deadline of the batch's callers when every caller
// has one.
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

func failAll(batch []*pending, err error) {
	for _, p := range batch {
		p.fut.complete(PublishResult{}, err)
	}
}
