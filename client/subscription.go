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

// ConsumeOptions are the settings of Subscribe and Consume; the zero value
// subscribes in manual-ack mode with unlimited prefetch, a server-generated
// consumer tag and (for Consume) one handler at a time.
type ConsumeOptions struct {
	// Prefetch is the most unsettled deliveries the server sends to this
	// subscription at once; 0 means unlimited. It cannot change later.
	Prefetch int
	// AutoAck counts each delivery as acknowledged once sent (at most
	// once); deliveries arrive already settled.
	AutoAck bool
	// ConsumerTag names the subscription; empty lets the server generate
	// one ("ctag-…").
	ConsumerTag string
	// Concurrency is, for Consume, how many handlers run at once; 0 means 1.
	// Subscribe ignores it.
	Concurrency int
	// ManualSettle makes Consume leave settling to the handler (nats.go's
	// ManualAck): a delivery the handler returns without settling stays
	// unsettled, using prefetch credit, until the handler's code settles it
	// or the subscription ends, which returns it to the queue. Subscribe
	// ignores it.
	ManualSettle bool
	// Priority is the consumer's priority (RabbitMQ's x-priority argument):
	// consumers of a higher priority get messages while they have credit;
	// the default is 0.
	Priority int
	// Timeout is the consumer timeout: a delivery left unsettled this long
	// ends the subscription (FailedPrecondition, "consumer timeout") and
	// returns its deliveries to the queue. 0: the queue's
	// x-consumer-timeout, else the node's --consumer-timeout (30m by
	// default). Millisecond precision.
	Timeout time.Duration
}

// CloseGracePeriod bounds how long Subscription.Close (and Client.Close for
// its subscriptions) waits for the server to end a half-closed Consume stream
// before cancelling it.
const CloseGracePeriod = 3 * time.Second

// Subscription is one consumer: an open Consume stream. Receive its
// deliveries from Deliveries and settle them with their methods. It is safe
// for concurrent use: many goroutines may read Deliveries and settle.
type Subscription struct {
	c       *Client
	cn      *conn // the connection the stream runs on
	queue   string
	tag     string
	stream  grpc.BidiStreamingClient[warrenpb.ConsumeRequest, warrenpb.ConsumeResponse]
	cancel  context.CancelFunc
	sendMu  sync.Mutex // stream sends (settles, CloseSend) must not race
	pending ledger

	// batch: the node sends Deliveries and takes Settles (Subscribed.batch).
	// Settles are then queued, in the order they were claimed, and the
	// writeSettles goroutine sends what is queued in one message: under load
	// many acks share a message, at light load each goes at once.
	batch     bool
	settleMu  sync.Mutex // queued, settleEnd, and claims in queue order
	queued    []*warrenpb.Settle
	settleEnd bool          // Close began: settles are refused
	settleDue chan struct{} // wakes writeSettles (capacity 1)

	deliveries chan *Delivery
	// active: whether the consumer gets deliveries (false while it waits
	// its turn on a single-active-consumer queue).
	active    atomic.Bool
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when the stream has ended
	err       error         // why; set before done is closed

	// The silence watch (watchSilence), when the node sends heartbeats.
	heard   atomic.Int64 // Unix ns of the last message, or of the end of a wait to hand one over
	handing atomic.Bool  // recv is waiting for the application to take a delivery
	silent  atomic.Bool  // the watch ended the stream

	group string      // the queue's Raft group, as Subscribed named it
	moved atomic.Bool // leaderMoved ended the stream
}

// Subscribe opens a Consume stream on queue and waits, bounded by ctx, for
// the server's Subscribed; when the server refuses, its error status is
// returned (e.g. NotFound). Opening is retried on Unavailable (after a
// failover when the connection failed) until ctx ends. ctx bounds only this
// handshake: the subscription lives until Close, Client.Close, or the
// stream's failure; it is not re-opened after a failure (Consume does that).
// Subscribe opens the session stream if needed. Safe for concurrent use.
func (c *Client) Subscribe(ctx context.Context, queue string, o ConsumeOptions) (*Subscription, error) {
	if _, err := checkInt32("prefetch", o.Prefetch); err != nil {
		return nil, err
	}
	if err := checkUTF8(&warrenpb.Subscribe{Queue: queue, ConsumerTag: o.ConsumerTag}); err != nil {
		return nil, err
	}
	if err := c.ensureSession(ctx); err != nil {
		return nil, err
	}
	var s *Subscription
	err := c.call(ctx, retryUnavailable, func(ctx context.Context, cn *conn) (err error) {
		s, err = c.subscribeAtLeader(ctx, cn, queue, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// subscribe is one attempt of Subscribe on cn; direct asks cn's node not
// to proxy the stream (see subscribeAtLeader).
func (c *Client) subscribe(ctx context.Context, cn *conn, queue string, o ConsumeOptions, direct bool) (*Subscription, error) {
	prefetch, err := checkInt32("prefetch", o.Prefetch)
	if err != nil {
		return nil, err
	}
	mode := warrenpb.AckMode_ACK_MODE_MANUAL
	if o.AutoAck {
		mode = warrenpb.AckMode_ACK_MODE_AUTO
	}
	sctx, cancel := context.WithCancel(c.ctx)
	stream, err := cn.api.Consume(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	err = stream.Send(&warrenpb.ConsumeRequest{Request: &warrenpb.ConsumeRequest_Subscribe{Subscribe: &warrenpb.Subscribe{
		Queue:             queue,
		Prefetch:          prefetch,
		AckMode:           mode,
		ConsumerTag:       o.ConsumerTag,
		SessionId:         c.opts.sessionID,
		MinMetaIndex:      c.MetaIndex(),
		Direct:            direct,
		StateUpdates:      true,
		Arguments:         consumerArgs(o),
		ConsumerTimeoutMs: o.Timeout.Milliseconds(),
		HeartbeatMs:       uint32(c.opts.consumeHeartbeat / time.Millisecond),
		Batch:             true,
	}}})
	var resp *warrenpb.ConsumeResponse
	if err == nil {
		stop := context.AfterFunc(ctx, cancel)
		// With heartbeats on, a node that does not answer in twice the
		// silence limit is taken for silent (paused, cut off): the attempt
		// fails as Unavailable and is retried, where gRPC would wait for
		// the keepalive's 15 s.
		var slow atomic.Bool
		if hb := c.opts.consumeHeartbeat; hb > 0 {
			t := time.AfterFunc(2*ConsumeSilenceIntervals*hb, func() { slow.Store(true); cancel() })
			defer t.Stop()
		}
		resp, err = stream.Recv()
		if !stop() {
			return nil, ctx.Err()
		}
		if err != nil && slow.Load() {
			err = status.Errorf(codes.Unavailable, "client: %s did not answer the subscription within %v", cn.addr, 2*ConsumeSilenceIntervals*c.opts.consumeHeartbeat)
		}
	} else {
		// A failed Send reports io.EOF; the stream's status comes from Recv.
		if _, rerr := stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
			err = rerr
		}
	}
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: consume stream ended before Subscribed", ErrProtocol)
		}
		return nil, err
	}
	subscribed := resp.GetSubscribed()
	if subscribed == nil {
		cancel()
		return nil, fmt.Errorf("%w: consume stream did not start with Subscribed", ErrProtocol)
	}
	s := &Subscription{
		c:          c,
		cn:         cn,
		queue:      queue,
		tag:        subscribed.GetConsumerTag(),
		stream:     stream,
		cancel:     cancel,
		deliveries: make(chan *Delivery, min(max(o.Prefetch, 1), 1024)),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	s.group = subscribed.GetGroup()
	if q := subscribed.GetQueue(); q != "" {
		s.queue = q
	}
	s.active.Store(subscribed.GetActive())
	s.pending.init()
	s.heard.Store(time.Now().UnixNano())
	if !c.goroutine(func() { s.recv(o.AutoAck) }) {
		cancel()
		return nil, ErrClosed
	}
	if subscribed.GetBatch() && !o.AutoAck {
		s.batch, s.settleDue = true, make(chan struct{}, 1)
		c.goroutine(s.writeSettles)
	}
	if hb := time.Duration(subscribed.GetHeartbeatMs()) * time.Millisecond; hb > 0 {
		c.goroutine(func() { s.watchSilence(hb) })
	}
	c.track(s)
	return s, nil
}

// recv reads deliveries until the stream ends, then records why and closes
// done and the deliveries channel (in that order, so that Err is set for a
// reader who saw the channel closed). After Close began it keeps reading, and
// drops what arrives, until the server ends the stream.
func (s *Subscription) recv(autoAck bool) {
	defer close(s.deliveries)
	defer close(s.done)
	defer s.cancel()
	for {
		resp, err := s.stream.Recv()
		if err != nil && s.silent.Load() {
			s.err = status.Errorf(codes.Unavailable, "client: the consume stream on %s heard nothing, not even a heartbeat, for %d heartbeat intervals: its node went silent", s.cn.addr, ConsumeSilenceIntervals)
			return
		}
		if err != nil && s.moved.Load() {
			s.err = status.Errorf(codes.Unavailable, "client: the leader of queue group %s moved away from %s", s.group, s.cn.addr)
			return
		}
		if err != nil {
			s.err = s.endError(err)
			if s.err != nil {
				if f := s.c.classify(s.cn, err); f == failConn {
					s.err = connError(s.cn, f, s.err)
					s.c.connFailed(s.cn, err)
				}
			}
			return
		}
		s.heard.Store(time.Now().UnixNano())
		if resp.GetHeartbeat() != nil {
			continue
		}
		if st := resp.GetState(); st != nil {
			s.active.Store(st.GetActive())
			continue
		}
		var pds []*warrenpb.Delivery
		switch {
		case resp.GetDelivery() != nil:
			pds = []*warrenpb.Delivery{resp.GetDelivery()}
		case resp.GetDeliveries() != nil:
			pds = resp.GetDeliveries().GetDeliveries()
		default:
			s.err = fmt.Errorf("%w: unexpected %T on the consume stream", ErrProtocol, resp.GetResponse())
			return
		}
		for _, pd := range pds {
			if !s.hand(pd, autoAck) {
				return
			}
		}
	}
}

// hand passes one delivery to the application, waiting until it is taken;
// it reports false when the client closed meanwhile (s.err is set). After
// Close began the delivery is dropped (unsettled: the server returns it to
// the queue).
func (s *Subscription) hand(pd *warrenpb.Delivery, autoAck bool) bool {
	select {
	case <-s.closing:
		return true
	default:
	}
	d := deliveryFromProto(pd)
	if d.Queue == "" {
		d.Queue = s.queue
	}
	if d.ConsumerTag == "" {
		d.ConsumerTag = s.tag
	}
	if autoAck {
		d.settled.Store(true)
	} else {
		d.settler = s
		s.pending.add(d)
	}
	select {
	case s.deliveries <- d:
		return true // room in the channel: recv did not wait
	default:
	}
	// While the application does not take deliveries, recv reads
	// nothing, and the silence watch must not count that.
	s.handing.Store(true)
	select {
	case s.deliveries <- d:
	case <-s.closing:
	case <-s.c.ctx.Done():
		s.err = ErrClosed
		return false
	}
	s.heard.Store(time.Now().UnixNano())
	s.handing.Store(false)
	return true
}

// watchSilence ends the stream when it has heard nothing for
// ConsumeSilenceIntervals heartbeat intervals while recv was reading: the
// node serving it went silent. It returns when the stream ends, or when
// Close begins (Close bounds the rest).
func (s *Subscription) watchSilence(hb time.Duration) {
	watchSilence(hb, &s.heard, &s.handing, s.done, s.closing, func() {
		s.silent.Store(true)
		s.cancel()
	})
}

// endError classifies the error that ended the stream.
func (s *Subscription) endError(err error) error {
	if s.c.isClosed() {
		return ErrClosed
	}
	select {
	case <-s.closing:
		return nil
	default:
	}
	if errors.Is(err, io.EOF) {
		return ErrSubscriptionEnded
	}
	return err
}

// Deliveries returns the channel of deliveries. It is closed when the
// subscription ends; Err then tells why.
func (s *Subscription) Deliveries() <-chan *Delivery { return s.deliveries }

// Active reports whether the subscription gets deliveries: false while it
// waits its turn as a consumer of a queue with x-single-active-consumer
// (it becomes true when the active consumer before it goes), true for
// every subscription of other queues.
func (s *Subscription) Active() bool { return s.active.Load() }

// consumerArgs are the Subscribe arguments of o.
func consumerArgs(o ConsumeOptions) map[string]*warrenpb.Value {
	if o.Priority == 0 {
		return nil
	}
	return map[string]*warrenpb.Value{"x-priority": {Kind: &warrenpb.Value_IntValue{IntValue: int64(o.Priority)}}}
}

// ConsumerTag returns the subscription's consumer tag (server-generated when
// none was given).
func (s *Subscription) ConsumerTag() string { return s.tag }

// Queue returns the queue the subscription consumes from.
func (s *Subscription) Queue() string { return s.queue }

// Done returns a channel that is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is live and after its own Close;
// once the stream ended otherwise it returns why: ErrClosed after
// Client.Close, the stream's gRPC status (Unavailable when the connection
// failed; the client then fails over in the background), or
// ErrSubscriptionEnded when the server ended it without error. The
// unsettled deliveries of an ended subscription have returned to the queue
// (redelivered later); settling them fails with ErrSubscriptionEnded.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription. It half-closes the stream, so that the
// server still processes the settles sent before, and waits up to
// CloseGracePeriod for the server to end it before cancelling it; the server
// returns the unsettled deliveries to the queue. Deliveries still in the
// channel, or arriving meanwhile, are dropped (and so returned). Close waits
// for the receiving goroutine to exit; it is idempotent and always returns
// nil.
func (s *Subscription) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.sendMu.Lock()
		if s.batch {
			// Settles queued before Close go out before the half-close,
			// and no later one is taken.
			s.settleMu.Lock()
			s.settleEnd = true
			s.settleMu.Unlock()
			s.sendQueued()
		}
		_ = s.stream.CloseSend()
		s.sendMu.Unlock()
		t := time.NewTimer(CloseGracePeriod)
		select {
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
		s.cancel()
	})
	<-s.done
	s.c.untrack(s)
	return nil
}

// settle sends a settle on the stream. It does not block on ctx: a send waits
// only for HTTP/2 flow control.
func (s *Subscription) settle(ctx context.Context, d *Delivery, st *warrenpb.Settle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.done:
		// The server has already returned the unsettled deliveries.
		if s.err != nil {
			return fmt.Errorf("%w: %w", ErrSubscriptionEnded, s.err)
		}
		return ErrSubscriptionEnded
	default:
	}
	if s.batch {
		return s.queueSettle(d, st)
	}
	// A settle that cannot be sent is not undone: the stream is gone, and
	// the server returns its unsettled deliveries to the queue. Claimed and
	// sent under one lock, so settles go in the order they were claimed
	// (see queueSettle).
	s.sendMu.Lock()
	if _, err := s.pending.claim(d, st.GetMultiple()); err != nil {
		s.sendMu.Unlock()
		return err
	}
	err := s.stream.Send(&warrenpb.ConsumeRequest{Request: &warrenpb.ConsumeRequest_Settle{Settle: st}})
	s.sendMu.Unlock()
	if err == nil {
		return nil
	}
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("%w: %w", ErrSubscriptionEnded, s.err)
		}
	default:
	}
	return fmt.Errorf("%w: %w", ErrSubscriptionEnded, err)
}

// queueSettle claims d and queues its settle for writeSettles. Claim and
// queue happen under one lock, so settles reach the node in the order they
// were claimed: an ack of tag 5 claimed before a multiple ack of tag 10
// must not arrive after it, or the node finds tag 5 already settled and
// ends the stream. Like a send on the stream, it returns before the node
// has the settle; one that cannot be sent is not undone (the stream is
// gone, and the server returns its unsettled deliveries to the queue).
func (s *Subscription) queueSettle(d *Delivery, st *warrenpb.Settle) error {
	s.settleMu.Lock()
	if s.settleEnd {
		s.settleMu.Unlock()
		return fmt.Errorf("%w: the subscription is closing", ErrSubscriptionEnded)
	}
	if _, err := s.pending.claim(d, st.GetMultiple()); err != nil {
		s.settleMu.Unlock()
		return err
	}
	s.queued = append(s.queued, st)
	s.settleMu.Unlock()
	select {
	case s.settleDue <- struct{}{}:
	default:
	}
	return nil
}

// writeSettles sends the queued settles until the stream ends: what was
// queued while it sent goes together in the next message.
func (s *Subscription) writeSettles() {
	for {
		select {
		case <-s.settleDue:
		case <-s.done:
			return
		}
		s.sendMu.Lock()
		s.sendQueued()
		s.sendMu.Unlock()
	}
}

// sendQueued sends what is queued, maxSettlesPerMessage settles to a
// message (one alone as a Settle). s.sendMu must be held: taking and
// sending under it keeps the queue's order on the stream. A failed send
// drops the rest, since the stream is gone (recv reports why).
func (s *Subscription) sendQueued() {
	s.settleMu.Lock()
	batch := s.queued
	s.queued = nil
	s.settleMu.Unlock()
	for rest := batch; len(rest) > 0; {
		n := min(len(rest), maxSettlesPerMessage)
		m := &warrenpb.ConsumeRequest{Request: &warrenpb.ConsumeRequest_Settle{Settle: rest[0]}}
		if n > 1 {
			m = &warrenpb.ConsumeRequest{Request: &warrenpb.ConsumeRequest_Settles{Settles: &warrenpb.Settles{Settles: rest[:n]}}}
		}
		if s.stream.Send(m) != nil {
			break
		}
		rest = rest[n:]
	}
}

// maxSettlesPerMessage is the most settles a node takes in one Settles
// message (README "Limits").
const maxSettlesPerMessage = 1024
