package e2e_test

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
)

// delayedBound is how late a delayed message may arrive in these tests:
// the goal is 100 ms (logged); the bound leaves room for a machine shared
// with other test runs.
var delayedBound = scaled(time.Second)

func declareDelayed(t *testing.T, c *client.Client, name, queue string) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	if err := c.DeclareExchange(ctx, name, "x-delayed-message", client.ExchangeOptions{Args: map[string]any{"x-delayed-type": "direct"}}); err != nil {
		t.Fatalf("declare delayed exchange: %v", err)
	}
	declareQueue(t, c, queue, nil)
	bind(t, c, name, queue, "k", nil)
}

// arrival takes the next message from queue and checks it is body and came
// no earlier than due, and at most delayedBound after.
func arrival(t *testing.T, c *client.Client, queue, body string, due time.Time) {
	t.Helper()
	arrivalBetween(t, c, queue, body, due, due)
}

// arrivalBetween is arrival for a message due somewhere between first and
// last (published at a moment the test knows only roughly).
func arrivalBetween(t *testing.T, c *client.Client, queue, body string, first, last time.Time) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	var d *client.Delivery
	for d == nil {
		got, ok, err := c.Get(ctx, queue, client.GetOptions{AutoAck: true})
		switch {
		case err != nil && ctx.Err() != nil:
			t.Fatalf("no %q in %s: %v", body, queue, err)
		case err != nil || !ok:
			time.Sleep(5 * time.Millisecond) // a poll interval, not a wait for an outcome
			continue
		}
		d = got
	}
	at := time.Now()
	if string(d.Body) != body {
		t.Fatalf("%s: got %q, want %q", queue, d.Body, body)
	}
	late := at.Sub(last)
	t.Logf("%q arrived %v after its due time", body, at.Sub(first))
	if early := first.Sub(at); early > 5*time.Millisecond { // the due time is the server's, a hair after our clock read
		t.Fatalf("%q arrived %v early", body, early)
	}
	if late > delayedBound {
		t.Fatalf("%q arrived %v late (bound %v)", body, late, delayedBound)
	}
}

// TestDelayedDelivery (issue 12 item 10): an exchange of kind
// x-delayed-message routes a message with x-delay (SDK Delay, CLI --delay)
// once due, one without at once; a delay survives a restart; the kind
// needs x-delayed-type.
func TestDelayedDelivery(t *testing.T) {
	dir := t.TempDir()
	n := transporttest.Start(t, transporttest.Options{DataDir: dir})
	c := newClient(t, n.Addr)
	ctx := testCtx(t, 60*time.Second)

	err := c.DeclareExchange(ctx, "dly.bad", "x-delayed-message", client.ExchangeOptions{})
	wantCode(t, "x-delayed-message without x-delayed-type", err, codes.InvalidArgument)
	err = c.DeclareExchange(ctx, "dly.bad", "direct", client.ExchangeOptions{Args: map[string]any{"x-delayed-type": "direct"}})
	wantCode(t, "x-delayed-type on a direct exchange", err, codes.InvalidArgument)

	declareDelayed(t, c, "dly", "dly.q")
	exs, err := c.ListExchanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exs {
		if e.Name == "dly" && e.Kind != "x-delayed-message" {
			t.Fatalf("listed kind %q", e.Kind)
		}
	}

	start := time.Now()
	publish(t, c, "dly", "k", client.Message{Body: []byte("late")}, client.Confirmed, client.Delay(1200*time.Millisecond))
	publish(t, c, "dly", "k", client.Message{Body: []byte("soon")}, client.Confirmed, client.Delay(300*time.Millisecond))
	publish(t, c, "dly", "k", client.Message{Body: []byte("now")}, client.Confirmed)
	arrival(t, c, "dly.q", "now", start)
	arrival(t, c, "dly.q", "soon", start.Add(300*time.Millisecond))
	arrival(t, c, "dly.q", "late", start.Add(1200*time.Millisecond))

	// The CLI's --delay.
	start = time.Now()
	if out, errOut, code := runCLI(t, "--server="+n.Addr, "publish", "dly", "k", "cli", "--delay", "400ms"); code != 0 {
		t.Fatalf("warren publish --delay: exit %d: %s%s", code, out, errOut)
	}
	arrivalBetween(t, c, "dly.q", "cli", start.Add(400*time.Millisecond), time.Now().Add(400*time.Millisecond))

	// An internal delayed exchange takes no publishes, delayed or not.
	if err := c.DeclareExchange(ctx, "dly.internal", "x-delayed-message", client.ExchangeOptions{Internal: true, Args: map[string]any{"x-delayed-type": "fanout"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Publish(ctx, "dly.internal", "k", client.Message{Body: []byte("x")}, client.Delay(time.Second))
	wantCode(t, "a delayed publish to an internal exchange", err, codes.PermissionDenied)

	// Across a restart: the delay is in the replicated state.
	start = time.Now()
	publish(t, c, "dly", "k", client.Message{Body: []byte("restart")}, client.Confirmed, client.Delay(2*time.Second))
	n.Stop()
	n = transporttest.Start(t, transporttest.Options{DataDir: dir})
	c = newClient(t, n.Addr)
	due := start.Add(2 * time.Second)
	if time.Now().After(due) {
		due = time.Now() // restarted after its due time: it goes at once
	}
	arrival(t, c, "dly.q", "restart", due)
}

// TestDelayedDeliveryLeaderKill: in a 3-node cluster, delayed messages
// stored by one group are routed when due after that group's leader node
// stops.
func TestDelayedDeliveryLeaderKill(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	c := newClient(t, nodes[0].Addr)
	declareDelayed(t, c, "dly.cl", "dly.cl.q")
	raw := nodes[0].Dial(t)
	st, err := raw.ClusterStatus(testCtx(t, 10*time.Second), &pb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, g := range st.GetGroups() {
		if strings.HasPrefix(g.GetName(), "q") {
			groups++
		}
	}
	// The group that keeps the exchange's delayed messages (broker's
	// delayGroup).
	h := fnv.New32a()
	h.Write([]byte("/\x00dly.cl"))
	group := "q" + strconv.Itoa(int(h.Sum32()%uint32(groups)))

	start := time.Now()
	for i := range 5 {
		publish(t, c, "dly.cl", "k", client.Message{Body: []byte(fmt.Sprint("m", i))}, client.Confirmed, client.Delay(1500*time.Millisecond))
	}
	var leader string
	eventually(t, 10*time.Second, "the delay group has a leader", func() error {
		st, err := raw.ClusterStatus(testCtx(t, 10*time.Second), &pb.ClusterStatusRequest{})
		if err != nil {
			return err
		}
		for _, g := range st.GetGroups() {
			if g.GetName() == group && g.GetLeaderId() != "" {
				leader = g.GetLeaderId()
				return nil
			}
		}
		return fmt.Errorf("group %s has no leader", group)
	})
	var left *transporttest.Node
	for _, n := range nodes {
		if n.Broker.Node().NodeID() == leader {
			n.Stop()
		} else if left == nil {
			left = n
		}
	}
	c = newClient(t, left.Addr)
	// Due 1.5 s after the publishes; a new leader must be elected first,
	// which may take longer: then at once.
	first := start.Add(1500 * time.Millisecond)
	last := first
	if now := time.Now(); now.After(last) {
		last = now
	}
	last = last.Add(scaled(3 * time.Second))
	for i := range 5 {
		arrivalBetween(t, c, "dly.cl.q", fmt.Sprint("m", i), first, last)
	}
}
