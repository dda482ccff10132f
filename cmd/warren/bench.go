package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/bytesize"
)

// Latencies go into HDR histograms (HdrHistogram, as wrk2 and the JVM
// tools use): constant memory and cost per sample, every sample counted,
// and 3 significant digits from 1 µs to a minute (longer ones count as a
// minute). The bench kept a slice of up to 2^20 samples and sorted it.
const (
	latencyLowest  = 1 // µs
	latencyHighest = int64(time.Minute / time.Microsecond)
	latencyDigits  = 3
)

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(latencyLowest, latencyHighest, latencyDigits)
}

type benchFlags struct {
	producers, consumers int
	size                 bytesize.Size
	prefetch             int
	count, batch         int
	duration, drain      time.Duration
	manualAck, confirm   bool
	queue                string
	rate                 float64 // msg/s over all producers; 0: closed loop
	json                 bool
	metricsURLs          []string
	amqpURL              string // --amqp-url: the clients speak AMQP 0-9-1 there
}

func newBenchCmd(a *app) *cobra.Command {
	var fl benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure publish and consume throughput and latency",
		Long: `Publish --count messages of --size bytes from --producers clients to a
queue (a fresh bench-<random> queue, deleted afterwards, unless --queue) and
consume them with --consumers clients, then print the rates and the publish-
confirm and end-to-end latencies (p50, p99). Each message carries its send time
in its first 8 bytes. Producers and consumers each have their own connection.

With --confirm (default) each producer keeps --batch publishes in flight and
times each confirm. With --confirm=false it publishes asynchronously without
waiting on each confirm (at most max(--batch, 10000) unconfirmed per producer).

With --rate N the producers publish open loop, N messages per second in all,
each at its scheduled time whether or not earlier ones were confirmed (at most
--batch unconfirmed per producer; beyond that the schedule slips, and the
latency, timed from the scheduled send, shows it). This measures latency at a
given load; without --rate the load is as high as the confirm window allows.

--json (or -o json) prints the report as JSON. It holds the client's CPU use
and, for each --metrics-url (a node's Prometheus /metrics, e.g.
http://127.0.0.1:5683/metrics; user:password@ in the URL for a node that
needs a login), the node's CPU over the run and its RSS after it.

The run ends when everything published was consumed, after --duration, on
SIGINT, or --drain-timeout after the producers finished.

With --amqp-url every client (and the queue's declaration) speaks AMQP 0-9-1
with amqp091-go instead of the SDK: the same run measures Warren's AMQP port,
or RabbitMQ's quorum queues, with one load generator.`,
		Args: nArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case fl.producers < 1 || fl.consumers < 0:
				return usagef("need --producers >= 1 and --consumers >= 0")
			case fl.size < 8 || fl.size > 64<<20:
				return usagef("--size must be at least 8 bytes (the send timestamp) and at most 64MiB")
			case fl.count < 1 || fl.batch < 1 || fl.prefetch < 0:
				return usagef("need --count >= 1, --batch >= 1, --prefetch >= 0")
			case fl.duration < 0 || fl.drain <= 0:
				return usagef("need --duration >= 0 and --drain-timeout > 0")
			case fl.rate < 0:
				return usagef("need --rate >= 0")
			case fl.rate > 0 && !fl.confirm:
				return usagef("--rate times confirms: it needs --confirm")
			case fl.amqpURL != "" && (fl.rate > 0 || !fl.confirm):
				return usagef("--amqp-url runs closed loop with confirms: --rate and --confirm=false are not supported with it")
			}
			if fl.json {
				a.output = "json"
			}
			if fl.amqpURL != "" {
				return asRunError(benchAMQP(cmd.Context(), a, fl))
			}
			return asRunError(bench(cmd.Context(), a, fl))
		},
	}
	f := cmd.Flags()
	f.IntVar(&fl.producers, "producers", 1, "publishing clients")
	f.IntVar(&fl.consumers, "consumers", 1, "consuming clients (0: publish only)")
	fl.size = 1024
	f.Var(&fl.size, "size", "message body size: bytes, or with a unit (4KiB; at least 8 bytes)")
	f.IntVar(&fl.prefetch, "prefetch", 100, "consumer prefetch")
	f.IntVar(&fl.count, "count", 100000, "total messages to publish")
	f.IntVar(&fl.batch, "batch", 100, "publishes in flight per producer (the confirm window)")
	f.DurationVar(&fl.duration, "duration", 0, "cap on the run's duration (0: none)")
	f.DurationVar(&fl.drain, "drain-timeout", 30*time.Second, "how long consumers may lag after the producers finished")
	f.BoolVar(&fl.manualAck, "manual-ack", true, "ack each delivery (false: auto-ack)")
	f.BoolVar(&fl.confirm, "confirm", true, "wait for each publish's confirm")
	f.Float64Var(&fl.rate, "rate", 0, "open loop: publish this many messages per second in all (0: as fast as --batch allows)")
	f.BoolVar(&fl.json, "json", false, "print the report as JSON (as -o json)")
	f.StringArrayVar(&fl.metricsURLs, "metrics-url", nil, "a node's /metrics URL, read before and after the run for its CPU and RSS (repeatable)")
	f.StringVar(&fl.queue, "queue", "", "queue to use (default: a fresh bench-<random> queue, deleted after)")
	f.StringVar(&fl.amqpURL, "amqp-url", "", "run every client over AMQP 0-9-1 at this URL (amqp://guest:guest@127.0.0.1:5672/) instead of the SDK: Warren's AMQP port, or RabbitMQ (the queue is declared with x-queue-type quorum)")
	cmd.AddCommand(newBenchFailoverCmd(a), newBenchFloorCmd(a))
	return cmd
}

// benchRun is the shared state of one run.
type benchRun struct {
	a        *app
	fl       benchFlags
	queue    string
	ctx      context.Context // ends at --duration, SIGINT, failure or completion
	stop     context.CancelFunc
	errOnce  sync.Once
	err      error
	target   atomic.Int64 // deliveries to wait for
	consumed atomic.Int64
	doneOnce sync.Once
	done     chan struct{} // closed when consumed reaches target

	// pacing holds, with --rate, how late each producer's timer woke it
	// for a publish (publishPaced), merged under pacingMu.
	pacingMu sync.Mutex
	pacing   *hdrhistogram.Histogram
}

func (r *benchRun) fail(err error) {
	r.errOnce.Do(func() { r.err = err })
	r.stop()
}

func (r *benchRun) checkDone() {
	if r.consumed.Load() >= r.target.Load() {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

// workerStats are one producer's or consumer's results; each worker has
// its own histogram (they are not safe for concurrent use), merged at the
// end.
type workerStats struct {
	n        int64
	rejected int64
	last     time.Time
	lat      *hdrhistogram.Histogram
}

func (w *workerStats) sample(d time.Duration) {
	if w.lat == nil {
		w.lat = newLatencyHistogram()
	}
	us := min(max(d.Microseconds(), latencyLowest), latencyHighest)
	_ = w.lat.RecordValue(us) // in range, so it cannot fail
}

func bench(ctx context.Context, a *app, fl benchFlags) error {
	admin, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = admin.Close() }()
	queue, created, err := benchQueue(ctx, a, admin, fl.queue)
	if err != nil {
		return err
	}
	if created {
		defer func() {
			dctx, cancel := a.opCtx(context.WithoutCancel(ctx))
			defer cancel()
			if _, err := admin.DeleteQueue(dctx, queue, client.DeleteQueueOptions{}); err != nil {
				fmt.Fprintf(a.stderr, "warren: deleting queue %q: %s\n", queue, describe(err))
			}
		}()
	}
	r := newBenchRun(ctx, a, fl, queue)
	defer r.stop()

	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	consumers := make([]*client.Client, 0, fl.consumers)
	for range fl.consumers {
		c, err := a.dial(ctx)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		consumers = append(consumers, c)
	}
	producers := make([]*client.Client, 0, fl.producers)
	for range fl.producers {
		c, err := a.dial(ctx)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		producers = append(producers, c)
	}

	before := scrapeAll(ctx, fl.metricsURLs)
	cpu0 := processCPU()
	start := time.Now()
	cstats := make([]workerStats, len(consumers))
	var cwg sync.WaitGroup
	for i, c := range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			r.consume(c, queue, &cstats[i])
		}()
	}
	pstats := r.produce(producers)
	return r.report(ctx, a, runStart{before, cpu0, start}, pstats, cstats, &cwg, len(consumers) > 0, created)
}

// benchQueue returns the queue to use, creating a fresh one when name is
// empty (created is then true) or when the named one does not exist.
func benchQueue(ctx context.Context, a *app, c *client.Client, name string) (q string, created bool, err error) {
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	if name != "" {
		if _, err := c.DeclareQueue(ctx, name, client.QueueOptions{Passive: true}); status.Code(err) != codes.NotFound {
			return name, false, err
		}
		_, err := c.DeclareQueue(ctx, name, client.QueueOptions{})
		return name, false, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = "bench-" + hex.EncodeToString(b[:])
	if _, err := c.DeclareQueue(ctx, name, client.QueueOptions{}); err != nil {
		return "", false, err
	}
	return name, true, nil
}

// consume takes deliveries until the run ends. client.Consume subscribes
// again when a stream ends (a leadership move in a cluster), so a
// redelivered message may be counted twice; the run then ends a few
// messages early.
func (r *benchRun) consume(c *client.Client, queue string, s *workerStats) {
	// Concurrency 1: the handler runs on one goroutine, so s needs no lock.
	err := c.Consume(r.ctx, queue, func(_ context.Context, d *client.Delivery) error {
		if len(d.Body) >= 8 {
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(d.Body)))
			s.sample(time.Since(sent))
		}
		s.n++
		s.last = time.Now()
		r.consumed.Add(1)
		r.checkDone()
		return nil // acked by Consume when --manual-ack
	}, client.ConsumeOptions{Prefetch: r.fl.prefetch, AutoAck: !r.fl.manualAck})
	if err != nil && r.ctx.Err() == nil {
		r.fail(fmt.Errorf("consumer: %w", err))
	}
}

// produce runs the producers and returns the stats of each worker.
func (r *benchRun) produce(producers []*client.Client) []workerStats {
	workersPer := 1
	switch {
	case r.fl.rate > 0:
		workersPer = min(r.fl.batch, maxPacedWaiters)
	case r.fl.confirm:
		workersPer = r.fl.batch
	}
	stats := make([]workerStats, len(producers)*workersPer)
	var wg sync.WaitGroup
	for p, c := range producers {
		share := int64(r.fl.count / len(producers))
		if p < r.fl.count%len(producers) {
			share++
		}
		if r.fl.rate > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.publishPaced(c, share, r.fl.rate/float64(len(producers)), stats[p*workersPer:(p+1)*workersPer])
			}()
			continue
		}
		var remaining atomic.Int64
		remaining.Store(share)
		for w := range workersPer {
			s := &stats[p*workersPer+w]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r.fl.confirm {
					r.publishConfirmed(c, &remaining, s)
				} else {
					r.publishAsync(c, &remaining, s)
				}
			}()
		}
	}
	wg.Wait()
	return stats
}

// maxPacedWaiters bounds the goroutines that wait on one paced producer's
// confirms. Each waits on one publish at a time, so a confirm that
// arrives while all of them are busy is timed late; at the rates --rate is
// for (a few confirms outstanding) that never happens.
const maxPacedWaiters = 64

type pacedPublish struct {
	f         *client.PublishFuture
	scheduled time.Time
}

// publishPaced publishes n messages at rate per second, each at its
// scheduled time. A confirm is timed from when its publish could go: its
// scheduled time when the producer was behind, so a stall that delays
// later sends counts against them (no coordinated omission, as in wrk2),
// and otherwise from when the producer's timer woke it. Go's timers wake a
// process that has nothing else to do with the granularity of epoll_wait's
// millisecond timeout, about half a millisecond late at the median: that
// is the load generator's slip, not the server's latency, so it is kept
// apart (pacing_lateness). At most len(stats) + --batch publishes are
// unconfirmed; beyond that the schedule slips, which the latencies show.
func (r *benchRun) publishPaced(c *client.Client, n int64, rate float64, stats []workerStats) {
	late := newLatencyHistogram()
	defer func() {
		r.pacingMu.Lock()
		defer r.pacingMu.Unlock()
		if r.pacing == nil {
			r.pacing = newLatencyHistogram()
		}
		r.pacing.Merge(late)
	}()
	pending := make(chan pacedPublish, r.fl.batch)
	var wg sync.WaitGroup
	for i := range stats {
		s := &stats[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range pending {
				ctx, cancel := r.a.opCtx(r.ctx)
				res, err := p.f.Wait(ctx)
				cancel()
				if r.count(res, err, s) {
					s.sample(time.Since(p.scheduled))
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(pending)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		from := at
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
			from = time.Now()
			_ = late.RecordValue(max(1, from.Sub(at).Microseconds()))
		}
		if r.ctx.Err() != nil {
			return
		}
		f := c.PublishAsync(r.ctx, "", r.queue, r.message())
		select {
		case pending <- pacedPublish{f: f, scheduled: from}:
		case <-r.ctx.Done():
			return
		}
	}
}

func (r *benchRun) message() client.Message {
	body := make([]byte, int(r.fl.size))
	binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
	return client.Message{Body: body}
}

// publishConfirmed publishes while messages remain, one confirm at a time.
func (r *benchRun) publishConfirmed(c *client.Client, remaining *atomic.Int64, s *workerStats) {
	for remaining.Add(-1) >= 0 && r.ctx.Err() == nil {
		ctx, cancel := r.a.opCtx(r.ctx)
		t0 := time.Now()
		res, err := c.Publish(ctx, "", r.queue, r.message())
		cancel()
		if !r.count(res, err, s) {
			return
		}
		s.sample(time.Since(t0))
	}
}

// publishAsync publishes while messages remain without waiting on each
// confirm, keeping at most a ring of them unconfirmed.
func (r *benchRun) publishAsync(c *client.Client, remaining *atomic.Int64, s *workerStats) {
	ring := make([]*client.PublishFuture, max(r.fl.batch, 10000))
	head, n := 0, 0
	waitOldest := func() bool {
		ctx, cancel := r.a.opCtx(r.ctx)
		defer cancel()
		res, err := ring[head].Wait(ctx)
		ring[head] = nil
		head, n = (head+1)%len(ring), n-1
		return r.count(res, err, s)
	}
	for remaining.Add(-1) >= 0 && r.ctx.Err() == nil {
		if n == len(ring) && !waitOldest() {
			return
		}
		ring[(head+n)%len(ring)] = c.PublishAsync(r.ctx, "", r.queue, r.message())
		n++
	}
	for n > 0 {
		if !waitOldest() {
			return
		}
	}
}

// count records one publish outcome; false stops the worker.
func (r *benchRun) count(res client.PublishResult, err error, s *workerStats) bool {
	switch {
	case err == nil:
		s.n++
		s.last = time.Now()
		return true
	case errors.Is(err, client.ErrRejected):
		s.rejected++
		return true
	case r.ctx.Err() != nil:
		return false // the run ended; the outcome is unknown
	default:
		r.fail(fmt.Errorf("publish: %w", err))
		return false
	}
}

type latencyJSON struct {
	Count  int64   `json:"count"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// benchResult is what bench prints.
type benchResult struct {
	Queue           string       `json:"queue"`
	Producers       int          `json:"producers"`
	Consumers       int          `json:"consumers"`
	Prefetch        int          `json:"prefetch"`
	Size            int          `json:"size"`
	TargetRate      float64      `json:"target_rate,omitempty"`
	Published       int64        `json:"published"`
	Rejected        int64        `json:"rejected"`
	Consumed        int64        `json:"consumed"`
	ElapsedS        float64      `json:"elapsed_s"`
	PublishElapsedS float64      `json:"publish_elapsed_s"`
	ConsumeElapsedS float64      `json:"consume_elapsed_s"`
	PublishRate     float64      `json:"publish_msgs_per_s"`
	ConsumeRate     float64      `json:"consume_msgs_per_s"`
	Confirm         *latencyJSON `json:"confirm_latency,omitempty"`
	EndToEnd        *latencyJSON `json:"end_to_end_latency,omitempty"`
	// PacingLateness is, with --rate, how late the producers' timers woke
	// them for a publish that was not yet due (not in confirm_latency).
	PacingLateness *latencyJSON `json:"pacing_lateness,omitempty"`
	// ClientCPUCores is this process's CPU time over the run's seconds.
	ClientCPUCores float64      `json:"client_cpu_cores"`
	Servers        []serverJSON `json:"servers,omitempty"`
}

func (r *benchRun) result(start, pubEnd time.Time, pstats, cstats []workerStats) benchResult {
	res := benchResult{Queue: r.queue, Producers: r.fl.producers, Consumers: r.fl.consumers, Prefetch: r.fl.prefetch,
		Size: int(r.fl.size), TargetRate: r.fl.rate}
	plat, clat := newLatencyHistogram(), newLatencyHistogram()
	lastPub, lastCons := start, start
	for _, s := range pstats {
		res.Published += s.n
		res.Rejected += s.rejected
		if s.lat != nil {
			plat.Merge(s.lat)
		}
		if s.last.After(lastPub) {
			lastPub = s.last
		}
	}
	for _, s := range cstats {
		res.Consumed += s.n
		if s.lat != nil {
			clat.Merge(s.lat)
		}
		if s.last.After(lastCons) {
			lastCons = s.last
		}
	}
	res.ElapsedS = time.Since(start).Seconds()
	res.PublishElapsedS = lastPub.Sub(start).Seconds()
	res.ConsumeElapsedS = lastCons.Sub(start).Seconds()
	res.PublishRate = rate(res.Published, res.PublishElapsedS)
	res.ConsumeRate = rate(res.Consumed, res.ConsumeElapsedS)
	res.Confirm = percentiles(plat)
	res.EndToEnd = percentiles(clat)
	r.pacingMu.Lock()
	if r.pacing != nil {
		res.PacingLateness = percentiles(r.pacing)
	}
	r.pacingMu.Unlock()
	return res
}

func rate(n int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// percentiles returns p50 and p99 of lat, or nil when it is empty.
func percentiles(lat *hdrhistogram.Histogram) *latencyJSON {
	if lat.TotalCount() == 0 {
		return nil
	}
	at := func(q float64) float64 { return float64(lat.ValueAtQuantile(q)) / 1000 } // µs → ms
	return &latencyJSON{Count: lat.TotalCount(), P50Ms: at(50), P90Ms: at(90), P99Ms: at(99), P999Ms: at(99.9),
		MaxMs: float64(lat.Max()) / 1000}
}

func (res benchResult) print(p printer, deleted bool) error {
	if p.json {
		return p.writeJSON(res)
	}
	var b strings.Builder
	note := ""
	if deleted {
		note = " (deleted after the run)"
	}
	fmt.Fprintf(&b, "queue        %s%s\n", res.Queue, note)
	fmt.Fprintf(&b, "published    %d in %.3fs = %.0f msg/s", res.Published, res.PublishElapsedS, res.PublishRate)
	if res.Rejected > 0 {
		fmt.Fprintf(&b, " (%d rejected)", res.Rejected)
	}
	fmt.Fprintf(&b, "\nconsumed     %d in %.3fs = %.0f msg/s\n", res.Consumed, res.ConsumeElapsedS, res.ConsumeRate)
	fmt.Fprintf(&b, "elapsed      %.3fs\n", res.ElapsedS)
	for _, l := range []struct {
		name string
		lat  *latencyJSON
	}{{"confirm", res.Confirm}, {"end-to-end", res.EndToEnd}, {"pacing late", res.PacingLateness}} {
		if l.lat == nil && l.name == "pacing late" {
			continue // not paced (no --rate)
		}
		if l.lat == nil {
			fmt.Fprintf(&b, "%-12s n/a\n", l.name)
			continue
		}
		fmt.Fprintf(&b, "%-12s p50 %.2fms  p99 %.2fms\n", l.name, l.lat.P50Ms, l.lat.P99Ms)
	}
	fmt.Fprintf(&b, "client cpu   %.2f cores\n", res.ClientCPUCores)
	for _, s := range res.Servers {
		if s.Error != "" {
			fmt.Fprintf(&b, "server       %s: %s\n", s.URL, s.Error)
			continue
		}
		fmt.Fprintf(&b, "server       %s: cpu %.2f cores, rss %.1f MiB\n", s.URL, s.CPUCores, float64(s.RSSBytes)/(1<<20))
	}
	_, err := fmt.Fprint(p.w, b.String())
	return err
}

// runStart is what a run recorded as it began, for its report.
type runStart struct {
	servers []processSample // the nodes' CPU and RSS (--metrics-url)
	cpu     time.Duration   // this process's CPU time
	at      time.Time
}

// report waits, once the producers are done (pstats), for the consumers
// (if any) to take everything published, bounded by --drain-timeout;
// stops the run, waits for the consumers (cwg), and prints the report,
// for the SDK and the AMQP load generator alike.
func (r *benchRun) report(ctx context.Context, a *app, begun runStart, pstats, cstats []workerStats, cwg *sync.WaitGroup, consuming, created bool) error {
	fl := r.fl
	pubEnd := time.Now()
	var published int64
	for _, s := range pstats {
		published += s.n
	}
	if consuming {
		r.target.Store(published)
		r.checkDone()
		drain := time.NewTimer(fl.drain)
		select {
		case <-r.done:
		case <-r.ctx.Done():
		case <-drain.C:
			r.fail(fmt.Errorf("consumers took %d of %d messages within --drain-timeout %v", r.consumed.Load(), published, fl.drain))
		}
		drain.Stop()
	}
	r.stop()
	cwg.Wait()
	res := r.result(begun.at, pubEnd, pstats, cstats)
	res.ClientCPUCores = (processCPU() - begun.cpu).Seconds() / res.ElapsedS
	res.Servers = serverReport(fl.metricsURLs, begun.servers, scrapeAll(ctx, fl.metricsURLs))
	if err := res.print(a.printer(), created); err != nil {
		return err
	}
	return r.err
}

// newBenchRun starts a run on queue, bounded by --duration when set (its
// stop must be called), expecting --count messages until the producers
// say how many they published; for the SDK and the AMQP load generator.
func newBenchRun(ctx context.Context, a *app, fl benchFlags, queue string) *benchRun {
	r := &benchRun{a: a, fl: fl, queue: queue, done: make(chan struct{})}
	if fl.duration > 0 {
		r.ctx, r.stop = context.WithTimeout(ctx, fl.duration)
	} else {
		r.ctx, r.stop = context.WithCancel(ctx)
	}
	r.target.Store(int64(fl.count))
	return r
}
