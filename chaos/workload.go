package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/chaos/check"
	"github.com/warrenmq/warren/client"
)

const (
	// publishTimeout bounds one publish attempt; the SDK retries inside it
	// (same publisher id and sequence, deduplicated by the server), so it
	// must outlast an election and a restart of every node.
	publishTimeout = 15 * time.Second
	// publishAttempts is how often a producer tries one message whose
	// outcome stays unknown. A retry is a new publish the server cannot
	// tell from the first: the checker counts its duplicate as such.
	publishAttempts = 3
)

// workload is the producers and consumers of a run, recording everything
// in rec.
type workload struct {
	o   Options
	c   *cluster
	rec *check.Recorder

	// stopPublishing is closed to stop the producers between publishes;
	// publishes in flight finish (bounded by publishTimeout).
	stopPublishing chan struct{}
	producers      sync.WaitGroup
	stopConsuming  context.CancelFunc
	consumers      sync.WaitGroup

	mu       sync.Mutex
	clients  []*client.Client
	confirms []confirmEvent

	attempts, retries, unknown, failed atomic.Int64
	// lastDelivery is the time (UnixNano) of the latest delivery.
	lastDelivery atomic.Int64
}

// confirmEvent is one confirmed publish on the route with index route
// (len(routes) is the ordered route): when it was sent and confirmed.
type confirmEvent struct {
	route      int
	sent, done time.Time
}

func newWorkload(o Options, c *cluster, rec *check.Recorder) *workload {
	return &workload{o: o, c: c, rec: rec, stopPublishing: make(chan struct{})}
}

// newClient connects an SDK client to every node, in an order drawn from
// rng so that the clients spread over the nodes.
func (w *workload) newClient(ctx context.Context, rng *rand.Rand, opts ...client.Option) (*client.Client, error) {
	addrs := w.c.grpcAddrs()
	rng.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	opts = append([]client.Option{client.WithDialOptions(w.c.dialOpts...)}, opts...)
	cctx, cancel := context.WithTimeout(ctx, w.o.scaled(30*time.Second))
	defer cancel()
	c, err := client.New(cctx, addrs, opts...)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.clients = append(w.clients, c)
	w.mu.Unlock()
	return c, nil
}

// start connects and starts the consumers, then the producers.
func (w *workload) start(ctx context.Context) error {
	if w.o.Protocol == "amqp" {
		return w.startAMQP(ctx)
	}
	rng := rand.New(rand.NewPCG(uint64(w.o.Seed), 1))
	cctx, cancel := context.WithCancel(ctx)
	w.stopConsuming = cancel
	w.rec.Ordered(queueOrdered)
	for _, q := range consumedQueues {
		n := w.o.Consumers
		if q == queueSAC {
			// At least two, so that one is active and one waits.
			n = max(n, 2)
		}
		for i := range n {
			c, err := w.newClient(ctx, rng)
			if err != nil {
				return err
			}
			w.consume(cctx, c, q, fmt.Sprintf("c%d-%s", i+1, q), w.o.Prefetch)
		}
	}
	oc, err := w.newClient(ctx, rng)
	if err != nil {
		return err
	}
	w.consume(cctx, oc, queueOrdered, "c1-"+queueOrdered, 1)

	perProducer := float64(w.o.Rate) / float64(w.o.Producers+1)
	for i := range w.o.Producers {
		c, err := w.newClient(ctx, rng)
		if err != nil {
			return err
		}
		prng := rand.New(rand.NewPCG(uint64(w.o.Seed), uint64(i)+2))
		w.produce(ctx, c, fmt.Sprintf("p%d", i+1), routes, perProducer, prng)
	}
	// The ordered producer publishes one message at a time, each after
	// the previous one's confirm.
	c, err := w.newClient(ctx, rng, client.WithPublishInFlight(1))
	if err != nil {
		return err
	}
	w.produce(ctx, c, "po", []route{orderedRoute}, perProducer, rand.New(rand.NewPCG(uint64(w.o.Seed), 0)))
	return nil
}

// produce runs a producer: perSecond messages a second (never bursting to
// catch up), each on a route drawn from rs, until stopPublishing.
func (w *workload) produce(ctx context.Context, c *client.Client, name string, rs []route, perSecond float64, rng *rand.Rand) {
	interval := time.Duration(float64(time.Second) / perSecond)
	body := make([]byte, w.o.MessageBytes)
	w.producers.Add(1)
	go func() {
		defer w.producers.Done()
		w.pace(ctx, interval, func(seq uint64) {
			r := rs[rng.IntN(len(rs))]
			id := fmt.Sprintf("%s-%d", name, seq)
			w.publish(ctx, c, name, seq, id, r, r.routingKey(rng), body, r.publishOptions(rng)...)
		})
	}()
}

// pace calls publish with sequence numbers 1, 2, … once per interval (a
// producer that fell behind catches up by at most one interval), until
// publishing stops or ctx ends. The SDK and AMQP producers share it.
func (w *workload) pace(ctx context.Context, interval time.Duration, publish func(seq uint64)) {
	next := time.Now()
	for seq := uint64(1); ; seq++ {
		if d := time.Until(next); d > 0 {
			select {
			case <-w.stopPublishing:
				return
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		select {
		case <-w.stopPublishing:
			return
		case <-ctx.Done():
			return
		default:
		}
		next = later(next.Add(interval), time.Now().Add(-interval))
		publish(seq)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// publish publishes message id on r, retrying an unknown outcome up to
// publishAttempts times, and records every attempt for every queue the
// route reaches.
func (w *workload) publish(ctx context.Context, c *client.Client, producer string, seq uint64, id string, r route, key string, body []byte, opts ...client.PublishOption) {
	msg := client.Message{Body: messageBody(id, body), MessageID: id}
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		w.attempts.Add(1)
		if attempt > 1 {
			w.retries.Add(1)
		}
		sent := time.Now()
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		res, err := c.Publish(pctx, r.exchange, key, msg, opts...)
		cancel()
		o := publishOutcome(res, err)
		for _, q := range r.queues {
			w.rec.Published(q, id, producer, seq, o)
		}
		switch o {
		case check.OK:
			w.confirmed(r, sent)
			return
		case check.Failed:
			w.failed.Add(1)
			fmt.Fprintf(w.o.Log, "chaos: publish %s rejected: %v %v\n", id, res.Status, err)
			return
		}
		w.unknown.Add(1)
		if ctx.Err() != nil || isClosed(w.stopPublishing) {
			return
		}
	}
}

// messageBody is the id, a space, and padding up to the body size.
func messageBody(id string, pad []byte) []byte {
	b := append([]byte(id), ' ')
	if len(b) < len(pad) {
		b = append(b, pad[len(b):]...)
	}
	return b
}

// messageID is the id at the start of a body.
func messageID(body []byte) string {
	s := string(body)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

// publishOutcome classifies a publish: OK when confirmed, Failed only when
// the server refused it for certain (a rejected or unroutable message, a
// request that failed validation), Unknown otherwise (it may have been
// enqueued).
func publishOutcome(res client.PublishResult, err error) check.Outcome {
	if err == nil && res.Status == client.Confirmed {
		return check.OK
	}
	if res.Status == client.Rejected || res.Status == client.Unroutable {
		return check.Failed
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.ResourceExhausted, codes.PermissionDenied:
		return check.Failed
	}
	return check.Unknown
}

// confirmed records when a publish on r, sent at sent, was confirmed.
func (w *workload) confirmed(r route, sent time.Time) {
	idx := len(routes)
	for i := range routes {
		if routes[i].name == r.name {
			idx = i
		}
	}
	w.mu.Lock()
	w.confirms = append(w.confirms, confirmEvent{route: idx, sent: sent, done: time.Now()})
	w.mu.Unlock()
}

// consume runs a consumer named name on queue until ctx ends: manual acks,
// every delivery and ack recorded. Consume re-subscribes by itself after
// broken streams; when it gives up, it is started again.
func (w *workload) consume(ctx context.Context, c *client.Client, queue, name string, prefetch int) {
	handler := func(ctx context.Context, d *client.Delivery) error {
		id := messageID(d.Body)
		w.rec.Delivered(queue, id, name, d.Redelivered)
		w.lastDelivery.Store(time.Now().UnixNano())
		err := d.Ack(context.WithoutCancel(ctx))
		w.rec.Acked(queue, id, name, ackOutcome(err))
		return nil
	}
	w.consumers.Add(1)
	go func() {
		defer w.consumers.Done()
		for ctx.Err() == nil {
			err := c.Consume(ctx, queue, handler, client.ConsumeOptions{Prefetch: prefetch})
			if ctx.Err() != nil || errors.Is(err, client.ErrClosed) {
				return
			}
			fmt.Fprintf(w.o.Log, "chaos: consumer %s ended (%v); subscribing again\n", name, err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

// ackOutcome: OK when the ack was sent, Failed when the SDK sent nothing
// (the stream had ended: the message returns to the queue), else Unknown.
func ackOutcome(err error) check.Outcome {
	switch {
	case err == nil:
		return check.OK
	case errors.Is(err, client.ErrSubscriptionEnded), errors.Is(err, client.ErrAlreadySettled):
		return check.Failed
	default:
		return check.Unknown
	}
}

// stopProducers stops the producers and waits for their last publishes.
func (w *workload) stopProducers() {
	close(w.stopPublishing)
	w.producers.Wait()
}

// stopConsumers ends the consumers; their unacked deliveries return to the
// queues, redelivered.
func (w *workload) stopConsumers() {
	w.stopConsuming()
	w.consumers.Wait()
}

// drain consumes every queue (but the dead-letter source, which empties
// by itself into its target) with fresh consumers until every queue is
// empty (no ready, no unacked) and nothing was delivered for quiet. It
// fails after timeout, or sooner once it stalled: nothing delivered and
// the queues' counts unchanged for stall (a stuck queue is reported
// while its nodes' state is still the stuck one, not after the whole
// timeout).
func (w *workload) drain(ctx context.Context, quiet, stall, timeout time.Duration) error {
	rng := rand.New(rand.NewPCG(uint64(w.o.Seed), 99))
	admin, err := w.newClient(ctx, rng)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		w.consumers.Wait()
	}()
	w.lastDelivery.Store(time.Now().UnixNano())
	for _, q := range queueNames {
		if q == queueDLSource {
			continue
		}
		c, err := w.newClient(ctx, rng)
		if err != nil {
			return err
		}
		w.consume(dctx, c, q, "drain-"+q, 100)
	}
	deadline := time.Now().Add(timeout)
	var last error
	lastCounts, changed := "", time.Now()
	for {
		last = queuesEmpty(ctx, admin)
		if last == nil && time.Since(time.Unix(0, w.lastDelivery.Load())) >= quiet {
			return nil
		}
		if last == nil {
			last = errors.New("deliveries still arriving")
		}
		if counts := last.Error(); counts != lastCounts {
			lastCounts, changed = counts, time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queues not drained after %v: %w", timeout, last)
		}
		if idle := min(time.Since(changed), time.Since(time.Unix(0, w.lastDelivery.Load()))); idle >= stall {
			return fmt.Errorf("drain stalled: nothing delivered and no queue changed for %v: %w", idle.Round(time.Second), last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// queuesEmpty fails unless every workload queue has no ready and no unacked
// message.
func queuesEmpty(ctx context.Context, c *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	qs, err := c.ListQueues(ctx)
	if err != nil {
		return err
	}
	var busy []string
	for _, q := range qs {
		if strings.HasPrefix(q.Name, "chaos-") && (q.Ready > 0 || q.Unacked > 0) {
			busy = append(busy, fmt.Sprintf("%s: %d ready, %d unacked", q.Name, q.Ready, q.Unacked))
		}
	}
	if len(busy) > 0 {
		return errors.New(strings.Join(busy, "; "))
	}
	return nil
}

// close closes every client of the workload.
func (w *workload) close() {
	w.mu.Lock()
	cs := w.clients
	w.clients = nil
	w.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// confirmEvents returns a copy of the confirm events.
func (w *workload) confirmEvents() []confirmEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]confirmEvent(nil), w.confirms...)
}

// newRand returns a generator drawn from the run's seed and a stream
// number, so every user of randomness gets its own reproducible stream.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
