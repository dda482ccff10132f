package chaos

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warrenmq/warren/client"
)

// FailoverFault is how the failover benchmark takes a queue's leader away.
type FailoverFault string

const (
	// FailoverKill sends SIGKILL to the leader's process: its connections
	// are reset at once (a crashed process on a live host).
	FailoverKill FailoverFault = "kill"
	// FailoverPause sends SIGSTOP to the leader's process: it goes silent
	// without closing anything (a hung VM, a partition), until SIGCONT
	// after the trial.
	FailoverPause FailoverFault = "pause"
)

// FailoverOptions configures Failover. Zero values take the defaults named
// on each field.
type FailoverOptions struct {
	// Nodes is the cluster size: 3 (default) or 5.
	Nodes int
	// Trials is how many times the leader is taken away. Default 10.
	Trials int
	// Rate is the producer's publish rate, messages per second, each
	// published at its time whether or not earlier ones were confirmed.
	// Default 100.
	Rate int
	// Fault is FailoverKill (default) or FailoverPause.
	Fault FailoverFault
	// NodeBinary is the warren-node executable. Required.
	NodeBinary string
	// DataDir holds the nodes' data and logs. Required; not removed.
	DataDir string
	// NodeFlags are passed to every node (e.g. Raft timings).
	NodeFlags []string
	// Wait is the longest a trial waits for the first confirm and the
	// first delivery after the fault. Default 30s.
	Wait time.Duration
	// TimeoutScale multiplies the harness's own deadlines; default 1.
	TimeoutScale float64
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// FailoverTrial is what one trial measured. Durations are from the
// signal to the event; -1 when it was not seen within Wait (or, for
// Elected, not found in the logs).
type FailoverTrial struct {
	Trial     int    `json:"trial"`
	Group     string `json:"group"`
	Leader    string `json:"leader"`     // the node taken away
	NewLeader string `json:"new_leader"` // from the nodes' logs
	// Elected is when a surviving node logged that it entered the
	// leader state of the queue's group.
	Elected time.Duration `json:"elected_ns"`
	// FirstConfirm is when the first publish sent after the fault was
	// confirmed.
	FirstConfirm time.Duration `json:"first_confirm_ns"`
	// FirstDelivery is when the consumer first received a message
	// published after the fault.
	FirstDelivery time.Duration `json:"first_delivery_ns"`
	// Error says why a trial could not be measured (a node that did not
	// come back, a client that could not connect); the benchmark goes on.
	Error string `json:"error,omitempty"`
}

// FailoverStats summarises one measure over the trials that saw it.
type FailoverStats struct {
	N      int           `json:"n"`      // trials that saw the event
	Missed int           `json:"missed"` // trials that did not within Wait
	Median time.Duration `json:"median_ns"`
	Max    time.Duration `json:"max_ns"`
}

// FailoverResult is the outcome of Failover.
type FailoverResult struct {
	Fault     FailoverFault   `json:"fault"`
	Nodes     int             `json:"nodes"`
	Rate      int             `json:"rate"`
	NodeFlags []string        `json:"node_flags,omitempty"`
	Trials    []FailoverTrial `json:"trials"`
	Elected   FailoverStats   `json:"elected"`
	Confirm   FailoverStats   `json:"first_confirm"`
	Delivery  FailoverStats   `json:"first_delivery"`
}

const failoverQueue = "failover"

func (o FailoverOptions) withDefaults() FailoverOptions {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Trials == 0 {
		o.Trials = 10
	}
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.Fault == "" {
		o.Fault = FailoverKill
	}
	if o.Wait == 0 {
		o.Wait = 30 * time.Second
	}
	if o.TimeoutScale <= 0 {
		o.TimeoutScale = 1
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

func (o FailoverOptions) validate() error {
	var errs []error
	if o.Nodes != 3 && o.Nodes != 5 {
		errs = append(errs, fmt.Errorf("nodes must be 3 or 5, not %d", o.Nodes))
	}
	if o.Trials < 1 || o.Trials > 1000 {
		errs = append(errs, fmt.Errorf("trials must be 1..1000, not %d", o.Trials))
	}
	if o.Rate < 1 || o.Rate > 10000 {
		errs = append(errs, fmt.Errorf("rate must be 1..10000 messages/s, not %d", o.Rate))
	}
	if o.Fault != FailoverKill && o.Fault != FailoverPause {
		errs = append(errs, fmt.Errorf("fault must be %s or %s, not %q", FailoverKill, FailoverPause, o.Fault))
	}
	if o.Wait < time.Second || o.Wait > 10*time.Minute {
		errs = append(errs, fmt.Errorf("wait %v out of range [1s, 10m]", o.Wait))
	}
	if o.NodeBinary == "" {
		errs = append(errs, errors.New("no warren-node binary given"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("no data dir given"))
	}
	return errors.Join(errs...)
}

// Failover measures how long a queue's publishers and consumers wait when
// the leader of the queue's Raft group is taken away. It starts o.Nodes
// warren-node processes, declares a queue, and per trial: finds the
// queue's leader, connects a producer (o.Rate confirmed publishes a
// second, open loop) and a consumer to the other nodes only, lets them
// run, kills (or pauses) the leader, and measures from the signal to the
// first confirm of a message published after it and to the first delivery
// of such a message; then brings the node back and waits until the
// cluster is healthy and its leaders are spread again. A trial that sees
// nothing within o.Wait is recorded as missed, never as an error: it is a
// benchmark. Failover returns an error only when the cluster cannot be
// started or the queue declared.
func Failover(ctx context.Context, o FailoverOptions) (*FailoverResult, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	co := Options{Nodes: o.Nodes, NodeBinary: o.NodeBinary, DataDir: o.DataDir, NodeFlags: o.NodeFlags,
		TimeoutScale: o.TimeoutScale, Log: o.Log}.withDefaults()
	c, err := startCluster(ctx, co, false)
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	defer c.close()
	logf(co, "cluster up: %s", strings.Join(c.grpcAddrs(), " "))

	admin, err := client.New(ctx, c.grpcAddrs(), client.WithDialOptions(c.dialOpts...))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close()
	dctx, cancel := context.WithTimeout(ctx, co.scaled(30*time.Second))
	_, err = admin.DeclareQueue(dctx, failoverQueue, client.QueueOptions{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("declare the queue: %w", err)
	}
	group, err := c.queueGroup(ctx, failoverQueue)
	if err != nil {
		return nil, err
	}
	res := &FailoverResult{Fault: o.Fault, Nodes: o.Nodes, Rate: o.Rate, NodeFlags: o.NodeFlags}
	for i := range o.Trials {
		if ctx.Err() != nil {
			break
		}
		// Leaders move while the cluster settles (the spread hands groups
		// to a restarted node): start each trial from a settled cluster.
		if err := c.waitSettled(ctx, co.scaled(2*time.Minute)); err != nil {
			res.Trials = append(res.Trials, FailoverTrial{Trial: i + 1, Group: group, Error: err.Error(),
				Elected: -1, FirstConfirm: -1, FirstDelivery: -1})
			logf(co, "trial %d: %v", i+1, err)
			continue
		}
		t := runFailoverTrial(ctx, o, co, c, group)
		t.Trial = i + 1
		res.Trials = append(res.Trials, t)
		logf(co, "trial %d: %s (%s) away: elected %s (%s), first confirm %s, first delivery %s %s",
			t.Trial, t.Leader, o.Fault, fmtDur(t.Elected), t.NewLeader, fmtDur(t.FirstConfirm), fmtDur(t.FirstDelivery), t.Error)
	}
	res.Elected = failoverStats(res.Trials, func(t FailoverTrial) time.Duration { return t.Elected })
	res.Confirm = failoverStats(res.Trials, func(t FailoverTrial) time.Duration { return t.FirstConfirm })
	res.Delivery = failoverStats(res.Trials, func(t FailoverTrial) time.Duration { return t.FirstDelivery })
	return res, nil
}

// waitSettled waits until the cluster is healthy and no node leads two
// queue groups more than another (the spread would move one), twice in a
// row a second apart.
func (c *cluster) waitSettled(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streak := 0
	for {
		err := c.healthy(ctx)
		if err == nil {
			err = c.spread(ctx)
		}
		if err == nil {
			if streak++; streak == 2 {
				return nil
			}
		} else {
			streak = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not settled after %v: %v", timeout, err)
		case <-time.After(time.Second):
		}
	}
}

// spread returns nil when the queue-group leaderships are spread (no node
// leads at least 2 more than another).
func (c *cluster) spread(ctx context.Context) error {
	st, err := c.nodes[0].status(ctx)
	if err != nil {
		return err
	}
	led := map[string]int{}
	for _, n := range c.nodes {
		led[n.id] = 0
	}
	for _, g := range st.GetGroups() {
		if strings.HasPrefix(g.GetName(), "q") {
			led[g.GetLeaderId()]++
		}
	}
	lo, hi := -1, 0
	for _, k := range led {
		hi = max(hi, k)
		if lo < 0 || k < lo {
			lo = k
		}
	}
	if hi-lo >= 2 {
		return fmt.Errorf("queue-group leaders not spread yet: %v", led)
	}
	return nil
}

// failoverProbe is one trial's producer and consumer, recording the first
// confirm and the first delivery of a message sent at or after from.
type failoverProbe struct {
	mu                      sync.Mutex
	from                    time.Time // zero until the fault
	confirm, delivery       time.Time
	confirmed, delivered    int // before the fault: the warm-up's progress
	seenConfirm, seenDelivr chan struct{}
}

func (p *failoverProbe) start(t time.Time) {
	p.mu.Lock()
	p.from = t
	p.mu.Unlock()
}

// note records an event (a confirm or a delivery) of a message sent at
// sent, seen at now.
func (p *failoverProbe) note(sent, now time.Time, delivery bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.from.IsZero() {
		if delivery {
			p.delivered++
		} else {
			p.confirmed++
		}
		return
	}
	if sent.Before(p.from) {
		return
	}
	at, seen := &p.confirm, p.seenConfirm
	if delivery {
		at, seen = &p.delivery, p.seenDelivr
	}
	if at.IsZero() {
		*at = now
		close(seen)
	}
}

func (p *failoverProbe) warm() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.confirmed >= 20 && p.delivered >= 20
}

// runFailoverTrial runs one trial against the current leader of group.
func runFailoverTrial(ctx context.Context, o FailoverOptions, co Options, c *cluster, group string) FailoverTrial {
	t := FailoverTrial{Group: group, Elected: -1, FirstConfirm: -1, FirstDelivery: -1}
	leader, err := c.groupLeader(ctx, group, func(*node) bool { return true })
	if err != nil {
		t.Error = err.Error()
		return t
	}
	t.Leader = leader.id
	var others []string
	for _, n := range c.nodes {
		if n != leader {
			others = append(others, n.grpcAddr)
		}
	}
	p := &failoverProbe{seenConfirm: make(chan struct{}), seenDelivr: make(chan struct{})}
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop() // before wg.Wait: the producer and consumer end with it

	cons, err := client.New(tctx, others, client.WithDialOptions(c.dialOpts...))
	if err != nil {
		t.Error = "consumer: " + err.Error()
		return t
	}
	defer cons.Close()
	prod, err := client.New(tctx, others, client.WithDialOptions(c.dialOpts...))
	if err != nil {
		t.Error = "producer: " + err.Error()
		return t
	}
	defer prod.Close()
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = cons.Consume(tctx, failoverQueue, func(_ context.Context, d *client.Delivery) error {
			if len(d.Body) >= 8 {
				p.note(time.Unix(0, int64(binary.BigEndian.Uint64(d.Body))), time.Now(), true)
			}
			return nil
		}, client.ConsumeOptions{Prefetch: 100})
	}()
	go func() {
		defer wg.Done()
		produceOpenLoop(tctx, prod, o.Rate, o.Wait, p, &wg)
	}()

	// Warm up: both sides flowing, so the fault meets a running pipeline.
	warmUntil := time.Now().Add(co.scaled(30 * time.Second))
	for !p.warm() && time.Now().Before(warmUntil) && tctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if !p.warm() {
		t.Error = "no confirms and deliveries within 30s before the fault"
		return t
	}
	time.Sleep(500 * time.Millisecond) // a steady second of traffic in all

	sig := syscall.SIGKILL
	if o.Fault == FailoverPause {
		sig = syscall.SIGSTOP
	}
	at := time.Now()
	p.start(at)
	if err := leader.signal(sig); err != nil {
		t.Error = err.Error()
		return t
	}
	deadline := time.NewTimer(o.Wait)
	defer deadline.Stop()
	for _, ch := range []chan struct{}{p.seenConfirm, p.seenDelivr} {
		select {
		case <-ch:
		case <-deadline.C:
		case <-ctx.Done():
		}
	}
	p.mu.Lock()
	if !p.confirm.IsZero() {
		t.FirstConfirm = p.confirm.Sub(at)
	}
	if !p.delivery.IsZero() {
		t.FirstDelivery = p.delivery.Sub(at)
	}
	p.mu.Unlock()
	stop()
	wg.Wait()
	t.NewLeader, t.Elected = electedAfter(c, group, leader, at)

	// Bring the node back.
	if o.Fault == FailoverPause {
		err = leader.signal(syscall.SIGCONT)
	} else {
		if err = leader.kill(); err == nil { // reap it
			err = c.restart(ctx, []*node{leader})
		}
	}
	if err != nil {
		t.Error = "bring " + leader.id + " back: " + err.Error()
	}
	return t
}

// produceOpenLoop publishes rate messages a second until ctx ends, each at
// its scheduled time whatever became of the earlier ones (so a stall shows
// as waiting publishes, not as a slower schedule), and notes each confirm
// in p. Each message carries its send time in its first 8 bytes. A
// publish waits at most wait for its confirm.
func produceOpenLoop(ctx context.Context, c *client.Client, rate int, wait time.Duration, p *failoverProbe, wg *sync.WaitGroup) {
	interval := time.Second / time.Duration(rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		body := make([]byte, 64)
		binary.BigEndian.PutUint64(body, uint64(sent.UnixNano()))
		pctx, cancel := context.WithTimeout(ctx, wait)
		f := c.PublishAsync(pctx, "", failoverQueue, client.Message{Body: body})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			if r, err := f.Wait(pctx); err == nil && r.Status == client.Confirmed {
				p.note(sent, time.Now(), false)
			}
		}()
	}
}

// electedAfter finds, in the logs of the nodes other than old, the first
// line after at saying that a node entered the leader state of group, and
// returns that node and the time from at; "" and -1 when none did.
func electedAfter(c *cluster, group string, old *node, at time.Time) (string, time.Duration) {
	best, who := time.Duration(-1), ""
	for _, n := range c.nodes {
		if n == old {
			continue
		}
		if ts, ok := firstLogAfter(n.logPath, at, "entering leader state", "group="+group+" "); ok {
			if d := ts.Sub(at); best < 0 || d < best {
				best, who = d, n.id
			}
		}
	}
	return who, best
}

// firstLogAfter returns the time of the first line of the node log at path
// (hclog's text format: the time first) that is at or after at and holds
// every one of subs.
func firstLogAfter(path string, at time.Time, subs ...string) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text() + " "
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(line, s) }) {
			ts, _, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			t, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts)
			if err == nil && !t.Before(at.Truncate(time.Millisecond)) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// failoverStats summarises f over the trials.
func failoverStats(ts []FailoverTrial, f func(FailoverTrial) time.Duration) FailoverStats {
	var s FailoverStats
	var ds []time.Duration
	for _, t := range ts {
		if d := f(t); d >= 0 {
			ds = append(ds, d)
		} else {
			s.Missed++
		}
	}
	s.N = len(ds)
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	s.Max = ds[len(ds)-1]
	if len(ds)%2 == 1 {
		s.Median = ds[len(ds)/2]
	} else {
		s.Median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return s
}
