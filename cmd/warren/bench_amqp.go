package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// benchAMQP is bench with every client speaking AMQP 0-9-1 (amqp091-go)
// to --amqp-url: the same queue, windows, clocks and report, so that the
// gRPC SDK, Warren's AMQP port and RabbitMQ itself (a quorum queue) are
// measured by one load generator. The queue is declared and deleted over
// AMQP too (x-queue-type quorum, which Warren takes as its own kind).
func benchAMQP(ctx context.Context, a *app, fl benchFlags) error {
	admin, err := amqp091.Dial(fl.amqpURL)
	if err != nil {
		return fmt.Errorf("--amqp-url: %w", err)
	}
	defer admin.Close()
	ach, err := admin.Channel()
	if err != nil {
		return err
	}
	queue, created := fl.queue, false
	if queue == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		queue, created = "bench-"+hex.EncodeToString(b[:]), true
		if _, err := ach.QueueDeclare(queue, true, false, false, false, amqp091.Table{"x-queue-type": "quorum"}); err != nil {
			return fmt.Errorf("declare %s: %w", queue, err)
		}
		defer func() {
			if _, err := ach.QueueDelete(queue, false, false, false); err != nil {
				fmt.Fprintf(a.stderr, "warren: deleting queue %q: %v\n", queue, err)
			}
		}()
	}
	r := newBenchRun(ctx, a, fl, queue)
	defer r.stop()

	var conns []*amqp091.Connection
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	dial := func() (*amqp091.Channel, error) {
		c, err := amqp091.Dial(fl.amqpURL)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		return c.Channel()
	}
	consumers := make([]*amqp091.Channel, 0, fl.consumers)
	for range fl.consumers {
		ch, err := dial()
		if err != nil {
			return err
		}
		if err := ch.Qos(fl.prefetch, 0, false); err != nil {
			return err
		}
		consumers = append(consumers, ch)
	}
	producers := make([]*amqp091.Channel, 0, fl.producers)
	for range fl.producers {
		ch, err := dial()
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			return err
		}
		producers = append(producers, ch)
	}

	before := scrapeAll(ctx, fl.metricsURLs)
	cpu0 := processCPU()
	start := time.Now()
	cstats := make([]workerStats, len(consumers))
	var cwg sync.WaitGroup
	for i, ch := range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			r.consumeAMQP(ch, &cstats[i])
		}()
	}
	pstats := r.produceAMQP(producers)
	return r.report(ctx, a, runStart{before, cpu0, start}, pstats, cstats, &cwg, len(consumers) > 0, created)
}

// consumeAMQP takes deliveries until the run ends, acking each with
// --manual-ack.
func (r *benchRun) consumeAMQP(ch *amqp091.Channel, s *workerStats) {
	msgs, err := ch.ConsumeWithContext(r.ctx, r.queue, "", !r.fl.manualAck, false, false, false, nil)
	if err != nil {
		r.fail(fmt.Errorf("consumer: %w", err))
		return
	}
	for {
		select {
		case <-r.ctx.Done():
			return
		case d, ok := <-msgs:
			if !ok {
				if r.ctx.Err() == nil {
					r.fail(errors.New("consumer: the delivery channel closed"))
				}
				return
			}
			if len(d.Body) >= 8 {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(d.Body)))
				s.sample(time.Since(sent))
			}
			if r.fl.manualAck {
				if err := d.Ack(false); err != nil && r.ctx.Err() == nil {
					r.fail(fmt.Errorf("ack: %w", err))
					return
				}
			}
			s.n++
			s.last = time.Now()
			r.consumed.Add(1)
			r.checkDone()
		}
	}
}

// produceAMQP runs --batch publishing goroutines per producer channel,
// each publishing one message and waiting for its confirm at a time, as
// the SDK's producers do.
func (r *benchRun) produceAMQP(producers []*amqp091.Channel) []workerStats {
	workersPer := r.fl.batch
	stats := make([]workerStats, len(producers)*workersPer)
	var wg sync.WaitGroup
	for p, ch := range producers {
		share := int64(r.fl.count / len(producers))
		if p < r.fl.count%len(producers) {
			share++
		}
		var remaining atomic.Int64
		remaining.Store(share)
		for w := range workersPer {
			s := &stats[p*workersPer+w]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for remaining.Add(-1) >= 0 && r.ctx.Err() == nil {
					body := make([]byte, int(r.fl.size))
					binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
					t0 := time.Now()
					ctx, cancel := r.a.opCtx(r.ctx)
					dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", r.queue, false, false, amqp091.Publishing{Body: body, DeliveryMode: amqp091.Persistent})
					var ok bool
					if err == nil {
						ok, err = dc.WaitContext(ctx)
					}
					cancel()
					switch {
					case err == nil && ok:
						s.n++
						s.last = time.Now()
						s.sample(time.Since(t0))
					case err == nil:
						s.rejected++ // nacked
					case r.ctx.Err() != nil:
						return
					default:
						r.fail(fmt.Errorf("publish: %w", err))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	return stats
}
