package e2e_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pollEvery is the interval of every condition poll.
const pollEvery = 15 * time.Millisecond

// slow skips the test in the quick tier (go test -short, as
// scripts/test.sh --quick runs it): the chaos runs, and the clusters of
// processes that are killed, partitioned, restarted or reconfigured under
// load, each of which takes 7 s to a minute. The full tier runs them.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow (chaos run, or a process cluster under faults): skipped with -short")
	}
}

// scaled multiplies a deadline by WARREN_TEST_TIMEOUT_SCALE.
func scaled(d time.Duration) time.Duration { return d * transporttest.TimeoutScale() }

// eventually polls cond every pollEvery until it returns nil, and fails the
// test with its last error once d (scaled) has passed. The loop is bounded in
// time and in iterations.
func eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(d, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll is eventually without the test: it returns the last error of cond
// when it did not succeed within d (scaled).
func poll(d time.Duration, cond func() error) error {
	d = scaled(d)
	deadline := time.Now().Add(d)
	maxIter := int(d/pollEvery) + 2
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var last error
	for i := 0; i < maxIter; i++ {
		if last = cond(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	return fmt.Errorf("not true within %v: %w", d, last)
}

// testCtx returns a context bounded by d (scaled) and cancelled at cleanup.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), scaled(d))
	t.Cleanup(cancel)
	return ctx
}

// startNode starts an in-process node for the test.
func startNode(t testing.TB) *transporttest.Node {
	t.Helper()
	return transporttest.Start(t, transporttest.Options{})
}

// newClient connects the SDK to addr; the client is closed at cleanup.
func newClient(t testing.TB, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(10*time.Second))
	defer cancel()
	c, err := client.New(ctx, []string{addr}, opts...)
	if err != nil {
		t.Fatalf("client.New(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// declareQueue declares a queue and fails the test on error.
func declareQueue(t testing.TB, c *client.Client, name string, args map[string]any) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	if _, err := c.DeclareQueue(ctx, name, client.QueueOptions{Args: args}); err != nil {
		t.Fatalf("declare queue %q: %v", name, err)
	}
}

// bind binds and fails the test on error.
func bind(t testing.TB, c *client.Client, exchange, queue, key string, args map[string]any) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	if err := c.Bind(ctx, exchange, queue, key, args); err != nil {
		t.Fatalf("bind %q→%q (%q): %v", exchange, queue, key, err)
	}
}

// publish publishes one message through exchange with key and requires the
// given status.
func publish(t testing.TB, c *client.Client, exchange, key string, msg client.Message, want client.PublishStatus, opts ...client.PublishOption) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	res, err := c.Publish(ctx, exchange, key, msg, opts...)
	if want == client.Rejected {
		if !errors.Is(err, client.ErrRejected) || res.Status != client.Rejected {
			t.Fatalf("publish %q to %q/%q: got %v, %v; want rejected", msg.Body, exchange, key, res.Status, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("publish %q to %q/%q: %v", msg.Body, exchange, key, err)
	}
	if res.Status != want {
		t.Fatalf("publish %q to %q/%q: status %v, want %v", msg.Body, exchange, key, res.Status, want)
	}
}

// publishIDs publishes bodies "<prefix><i>" for i in [0, n) to the default
// exchange (routing key queue), one after another with confirms, so they
// are enqueued in order.
func publishIDs(t testing.TB, c *client.Client, queue, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		publish(t, c, "", queue, client.Message{Body: []byte(prefix + strconv.Itoa(i))}, client.Confirmed)
	}
}

// idOf parses the number after the last "-" of a body.
func idOf(t testing.TB, body []byte) int {
	t.Helper()
	n, err := parseID(body)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parseID is idOf for goroutines other than the test's.
func parseID(body []byte) (int, error) {
	s := string(body)
	n, err := strconv.Atoi(s[strings.LastIndexByte(s, '-')+1:])
	if err != nil {
		return 0, fmt.Errorf("body %q has no id: %w", s, err)
	}
	return n, nil
}

// queueInfo returns the named queue of ListQueues.
func queueInfo(ctx context.Context, c *client.Client, name string) (client.QueueInfo, error) {
	qs, err := c.ListQueues(ctx)
	if err != nil {
		return client.QueueInfo{}, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	return client.QueueInfo{}, fmt.Errorf("queue %q not listed", name)
}

// counts is the ready/unacked/consumers triple of a queue.
type counts struct {
	Ready, Unacked uint64
	Consumers      uint32
}

func (c counts) String() string {
	return fmt.Sprintf("ready=%d unacked=%d consumers=%d", c.Ready, c.Unacked, c.Consumers)
}

func getCounts(ctx context.Context, c *client.Client, name string) (counts, error) {
	q, err := queueInfo(ctx, c, name)
	if err != nil {
		return counts{}, err
	}
	return counts{q.Ready, q.Unacked, q.Consumers}, nil
}

// waitCounts polls until the queue has exactly ready and unacked messages.
func waitCounts(t testing.TB, c *client.Client, name string, ready, unacked uint64) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	eventually(t, 10*time.Second, fmt.Sprintf("queue %q ready=%d unacked=%d", name, ready, unacked), func() error {
		got, err := getCounts(ctx, c, name)
		if err != nil {
			return err
		}
		if got.Ready != ready || got.Unacked != unacked {
			return fmt.Errorf("queue %q: %v", name, got)
		}
		return nil
	})
}

// waitConsumers polls until the queue has n consumers.
func waitConsumers(t testing.TB, c *client.Client, name string, n uint32) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	eventually(t, 10*time.Second, fmt.Sprintf("queue %q has %d consumers", name, n), func() error {
		got, err := getCounts(ctx, c, name)
		if err != nil {
			return err
		}
		if got.Consumers != n {
			return fmt.Errorf("queue %q: %v", name, got)
		}
		return nil
	})
}

// recv waits up to d (scaled) for the next delivery of sub.
func recv(t testing.TB, sub *client.Subscription, d time.Duration) *client.Delivery {
	t.Helper()
	timer := time.NewTimer(scaled(d))
	defer timer.Stop()
	select {
	case dv, ok := <-sub.Deliveries():
		if !ok {
			t.Fatalf("subscription to %q ended: %v", sub.Queue(), sub.Err())
		}
		return dv
	case <-timer.C:
		t.Fatalf("no delivery on %q within %v", sub.Queue(), scaled(d))
	}
	return nil
}

// expectNone observes sub for d and fails if a delivery arrives. check,
// when not nil, runs every pollEvery during the observation.
func expectNone(t testing.TB, sub *client.Subscription, d time.Duration, check func() error) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for i := 0; i < int(d/pollEvery)+2; i++ {
		select {
		case dv, ok := <-sub.Deliveries():
			if !ok {
				t.Fatalf("subscription to %q ended: %v", sub.Queue(), sub.Err())
			}
			t.Fatalf("unexpected delivery %q (tag %d, redelivered %t) on %q", dv.Body, dv.DeliveryTag, dv.Redelivered, sub.Queue())
		case <-timer.C:
			return
		case <-tick.C:
			if check != nil {
				if err := check(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// subscribe subscribes and closes the subscription at cleanup.
func subscribe(t testing.TB, c *client.Client, queue string, o client.ConsumeOptions) *client.Subscription {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	sub, err := c.Subscribe(ctx, queue, o)
	if err != nil {
		t.Fatalf("subscribe to %q: %v", queue, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// wantCode fails unless err has the gRPC status code want.
func wantCode(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got code %v (%v), want %v", what, got, err, want)
	}
}

// drainGets takes every ready message of queue with auto-ack Gets and
// returns their bodies in order.
func drainGets(t testing.TB, c *client.Client, queue string) []string {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	var out []string
	for i := 0; i < 1000; i++ {
		d, ok, err := c.Get(ctx, queue, client.GetOptions{AutoAck: true})
		if err != nil {
			t.Fatalf("get from %q: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, string(d.Body))
	}
	t.Fatalf("queue %q did not drain", queue)
	return nil
}

// basicLogin sends user and password with every call of a raw gRPC client,
// as the SDK's WithCredentials does.
type basicLogin struct{ user, password string }

func (b basicLogin) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(b.user+":"+b.password))}, nil
}

func (basicLogin) RequireTransportSecurity() bool { return false }

// guestLogin logs a raw gRPC client of a warren-node process in as the
// default guest user (admitted from loopback).
func guestLogin() grpc.DialOption { return grpc.WithPerRPCCredentials(basicLogin{"guest", "guest"}) }
