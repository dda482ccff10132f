package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/warrenmq/warren/chaos/check"
)

// The workload over AMQP 0-9-1 (Options.Protocol "amqp"): the same
// producers and consumers, recorded the same way, with amqp091-go through
// every node's AMQP port. A client holds every node's address, in an
// order drawn per client, and reconnects to the next one that answers
// when its connection fails, as applications of RabbitMQ clients do.

// amqpClient is one AMQP connection with one channel, redialled on
// failure over addrs.
type amqpClient struct {
	c     *cluster
	addrs []string
	mu    sync.Mutex
	conn  *amqp091.Connection
	ch    *amqp091.Channel
	// setup runs on every new channel (confirm mode, qos).
	setup func(*amqp091.Channel) error
}

func (w *workload) newAMQPClient(rng *rand.Rand, setup func(*amqp091.Channel) error) *amqpClient {
	addrs := w.c.amqpAddrs()
	rng.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	return &amqpClient{c: w.c, addrs: addrs, setup: setup}
}

// dial connects to the first address that answers.
func (a *amqpClient) dial(ctx context.Context) (*amqp091.Channel, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch != nil && !a.ch.IsClosed() {
		return a.ch, nil
	}
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn, a.ch = nil, nil
	}
	var last error
	for _, addr := range a.addrs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		conn, err := amqp091.DialConfig("amqp://guest:guest@"+addr+"/", amqp091.Config{
			Heartbeat: 2 * time.Second,
			Dial: func(network, addr string) (net.Conn, error) {
				dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				if a.c.cli != nil {
					return a.c.cli.DialContext(dctx, network, addr)
				}
				var d net.Dialer
				return d.DialContext(dctx, network, addr)
			},
		})
		if err != nil {
			last = err
			continue
		}
		ch, err := conn.Channel()
		if err == nil && a.setup != nil {
			err = a.setup(ch)
		}
		if err != nil {
			_ = conn.Close()
			last = err
			continue
		}
		a.conn, a.ch = conn, ch
		return ch, nil
	}
	return nil, fmt.Errorf("no node's AMQP port answered: %w", last)
}

// drop forgets the channel after a failure, so the next dial reconnects.
func (a *amqpClient) drop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		_ = a.conn.Close()
	}
	a.conn, a.ch = nil, nil
}

func (a *amqpClient) close() { a.drop() }

// startAMQP is start over AMQP: consumers first, then the producers.
func (w *workload) startAMQP(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(uint64(w.o.Seed), 1))
	cctx, cancel := context.WithCancel(ctx)
	w.stopConsuming = cancel
	w.rec.Ordered(queueOrdered)
	for _, q := range consumedQueues {
		n := w.o.Consumers
		if q == queueSAC {
			n = max(n, 2)
		}
		for i := range n {
			w.consumeAMQP(cctx, w.newAMQPClient(rng, nil), q, fmt.Sprintf("c%d-%s", i+1, q), w.o.Prefetch)
		}
	}
	w.consumeAMQP(cctx, w.newAMQPClient(rng, nil), queueOrdered, "c1-"+queueOrdered, 1)
	perProducer := float64(w.o.Rate) / float64(w.o.Producers+1)
	confirm := func(ch *amqp091.Channel) error { return ch.Confirm(false) }
	for i := range w.o.Producers {
		prng := rand.New(rand.NewPCG(uint64(w.o.Seed), uint64(i)+2))
		w.produceAMQP(ctx, w.newAMQPClient(rng, confirm), fmt.Sprintf("p%d", i+1), routes, perProducer, prng)
	}
	w.produceAMQP(ctx, w.newAMQPClient(rng, confirm), "po", []route{orderedRoute}, perProducer, rand.New(rand.NewPCG(uint64(w.o.Seed), 0)))
	return nil
}

// produceAMQP is produce over AMQP: one message at a time, each waiting
// for its confirm (so the ordered route stays ordered).
func (w *workload) produceAMQP(ctx context.Context, a *amqpClient, name string, rs []route, perSecond float64, rng *rand.Rand) {
	interval := time.Duration(float64(time.Second) / perSecond)
	body := make([]byte, w.o.MessageBytes)
	w.producers.Add(1)
	go func() {
		defer w.producers.Done()
		defer a.close()
		w.pace(ctx, interval, func(seq uint64) {
			r := rs[rng.IntN(len(rs))]
			id := fmt.Sprintf("%s-%d", name, seq)
			var headers amqp091.Table
			if r.delay {
				headers = amqp091.Table{"x-delay": (minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)))).Milliseconds()}
			}
			w.publishAMQP(ctx, a, name, seq, id, r, r.routingKey(rng), amqp091.Publishing{
				Body: messageBody(id, body), MessageId: id, Headers: headers,
			})
		})
	}()
}

// publishAMQP publishes message id on r, retrying an unknown outcome up to
// publishAttempts times. A confirm is OK; a basic.return (unroutable) is
// Failed; a nack (the broker did not take it, or rejected it by overflow),
// a connection lost or a confirm not come in time are Unknown.
func (w *workload) publishAMQP(ctx context.Context, a *amqpClient, producer string, seq uint64, id string, r route, key string, msg amqp091.Publishing) {
	for attempt := 1; attempt <= publishAttempts; attempt++ {
		w.attempts.Add(1)
		if attempt > 1 {
			w.retries.Add(1)
		}
		sent := time.Now()
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		o := w.publishAMQPOnce(pctx, a, r, key, msg)
		cancel()
		for _, q := range r.queues {
			w.rec.Published(q, id, producer, seq, o)
		}
		switch o {
		case check.OK:
			w.confirmed(r, sent)
			return
		case check.Failed:
			w.failed.Add(1)
			return
		}
		w.unknown.Add(1)
		if ctx.Err() != nil || isClosed(w.stopPublishing) {
			return
		}
	}
}

func (w *workload) publishAMQPOnce(ctx context.Context, a *amqpClient, r route, key string, msg amqp091.Publishing) check.Outcome {
	ch, err := a.dial(ctx)
	if err != nil {
		// Nothing was sent: a failure, not an unknown outcome.
		time.Sleep(100 * time.Millisecond) // bounded by the producer's pace
		return check.Failed
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, r.exchange, key, false, false, msg)
	if err != nil {
		a.drop()
		return check.Unknown
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		a.drop()
		return check.Unknown
	}
	if !ok {
		return check.Unknown
	}
	return check.OK
}

// consumeAMQP runs a consumer named name on queue until ctx ends: manual
// acks, every delivery and ack recorded; a lost connection is redialled
// and the consumer started again.
func (w *workload) consumeAMQP(ctx context.Context, a *amqpClient, queue, name string, prefetch int) {
	a.setup = func(ch *amqp091.Channel) error { return ch.Qos(prefetch, 0, false) }
	w.consumers.Add(1)
	go func() {
		defer w.consumers.Done()
		defer a.close()
		for ctx.Err() == nil {
			err := w.consumeAMQPOnce(ctx, a, queue, name)
			if ctx.Err() != nil {
				return
			}
			a.drop()
			fmt.Fprintf(w.o.Log, "chaos: amqp consumer %s ended (%v); subscribing again\n", name, err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

func (w *workload) consumeAMQPOnce(ctx context.Context, a *amqpClient, queue, name string) error {
	ch, err := a.dial(ctx)
	if err != nil {
		return err
	}
	msgs, err := ch.ConsumeWithContext(ctx, queue, name, false, false, false, false, nil)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-msgs:
			if !ok {
				return errors.New("delivery channel closed")
			}
			id := messageID(d.Body)
			w.rec.Delivered(queue, id, name, d.Redelivered)
			w.lastDelivery.Store(time.Now().UnixNano())
			o := check.OK
			if err := d.Ack(false); err != nil {
				o = check.Failed // not sent: the channel is gone, the message returns
			}
			w.rec.Acked(queue, id, name, o)
		}
	}
}
