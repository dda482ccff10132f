package observe_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/observe"
	"github.com/warrenmq/warren/transport/transporttest"
)

// endpoint is an observe.Server in front of a transporttest node, on an
// OS-picked loopback port.
type endpoint struct {
	node *transporttest.Node
	srv  *observe.Server
	url  string
}

// startEndpoint serves n's endpoint; withAuth checks callers as a node
// without --no-auth does.
func startEndpoint(t testing.TB, n *transporttest.Node, withAuth, perQueue bool) *endpoint {
	t.Helper()
	guard := watermark.New(watermark.Config{MemoryHigh: 1 << 40, DiskFreeLow: 1, DataDir: n.DataDir})
	guard.Start()
	t.Cleanup(guard.Close)
	cfg := observe.Config{
		Broker: n.Broker, Watermarks: guard, PerQueueMetrics: perQueue,
		Clients: func() observe.Clients {
			st := n.API.Stats()
			return observe.Clients{Connections: n.Conns.Open(), ConnectionsRefused: n.Conns.Refused(), Sessions: st.Sessions, ConsumeStreams: st.ConsumeStreams}
		},
	}
	if withAuth {
		authn, err := access.NewAuthenticator(n.Broker, access.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Authenticator, cfg.Authorizer = authn, access.NewAuthorizer(n.Broker)
	}
	srv, err := observe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	n.API.SetObserver(srv)
	return &endpoint{node: n, srv: srv, url: "http://" + ln.Addr().String()}
}

// get fetches path as user (no credentials when user is "").
func (e *endpoint) get(t testing.TB, path, user, pw string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches /metrics as guest and parses it.
func (e *endpoint) scrape(t testing.TB) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := e.get(t, "/metrics", "guest", "guest")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return body, mfs
}

// value returns the value of family name's series with labels (name=value
// pairs), and false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d * transporttest.TimeoutScale())
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // paces the poll
	}
	t.Fatalf("%s: not within %v: %v", what, d, err)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*transporttest.TimeoutScale())
	t.Cleanup(cancel)
	return ctx
}

func guestClient(t testing.TB, n *transporttest.Node) *client.Client {
	t.Helper()
	c, err := client.New(testCtx(t), []string{n.Addr}, client.WithCredentials("guest", "guest"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMetricsOfALiveNode: a node that published, delivered, redelivered,
// acked and dead-lettered shows it per queue and in its totals, with its
// Raft groups, members, watermarks, streams and build, and the output is
// clean under promlint.
func TestMetricsOfALiveNode(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
	e := startEndpoint(t, n, true, true)
	c := guestClient(t, n)
	ctx := testCtx(t)

	if _, err := c.DeclareQueue(ctx, "dead", client.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "amq.direct", "dead", "dead", nil); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"x-dead-letter-exchange": "amq.direct", "x-dead-letter-routing-key": "dead"}
	if _, err := c.DeclareQueue(ctx, "work", client.QueueOptions{Args: args}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.Publish(ctx, "", "work", client.Message{Body: []byte(fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() *client.Delivery {
		d, ok, err := c.Get(ctx, "work", client.GetOptions{})
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		return d
	}
	if err := get().Nack(ctx, client.NackOptions{Requeue: true}); err != nil { // back, redelivered
		t.Fatal(err)
	}
	if d := get(); !d.Redelivered {
		t.Fatal("second get not redelivered")
	} else if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := get().Reject(ctx, client.RejectOptions{}); err != nil { // dead-lettered to "dead"
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, "dead", client.ConsumeOptions{Prefetch: 10})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-sub.Deliveries():
		_ = d // held unacked: the consumer stays
	case <-ctx.Done():
		t.Fatal("no dead letter delivered")
	}

	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"warren_queue_messages_published_total", []string{"queue", "work", "vhost", "/"}, 5},
		{"warren_queue_messages_delivered_total", []string{"queue", "work"}, 3},
		{"warren_queue_messages_redelivered_total", []string{"queue", "work"}, 1},
		{"warren_queue_messages_acked_total", []string{"queue", "work"}, 1},
		{"warren_queue_messages_dead_lettered_total", []string{"queue", "work"}, 1},
		{"warren_queue_messages_ready", []string{"queue", "work"}, 3},
		{"warren_queue_messages_ready_bytes", []string{"queue", "work"}, 6},
		{"warren_queue_messages_unacked", []string{"queue", "work"}, 0},
		{"warren_queue_messages_published_total", []string{"queue", "dead"}, 1},
		{"warren_queue_messages_unacked", []string{"queue", "dead"}, 1},
		{"warren_queue_consumers", []string{"queue", "dead"}, 1},
		{"warren_queues", nil, 2},
		{"warren_messages_published_total", nil, 6},
		{"warren_messages_dead_lettered_total", nil, 1},
		{"warren_consume_streams", nil, 1},
		{"warren_sessions", nil, 1},
		{"warren_cluster_members", []string{"state", "alive"}, 1},
		{"warren_raft_is_leader", []string{"group", "meta"}, 1},
		{"warren_raft_has_leader", []string{"group", "q0"}, 1},
		{"warren_ready", nil, 1},
		{"warren_memory_alarm", nil, 0},
		{"warren_publish_confirm_duration_seconds", nil, 5},
	}
	positive := []string{ // Raft's own timings, through go-metrics
		"warren_raft_commit_duration_seconds", "warren_raft_store_logs_duration_seconds", "warren_raft_fsm_apply_duration_seconds",
	}
	var body string
	eventually(t, 10*time.Second, "metrics of the node", func() error {
		var mfs map[string]*dto.MetricFamily
		body, mfs = e.scrape(t)
		for _, w := range want {
			got, ok := value(mfs, w.name, w.labels...)
			if !ok || got != w.v {
				return fmt.Errorf("%s%v = %v (present %t), want %v", w.name, w.labels, got, ok, w.v)
			}
		}
		for _, name := range []string{
			"warren_build_info", "warren_raft_term", "warren_raft_commit_index", "warren_raft_applied_index",
			"warren_raft_snapshot_size_bytes", "warren_raft_commit_duration_seconds", "warren_raft_store_logs_duration_seconds",
			"warren_client_connections", "go_goroutines", "process_resident_memory_bytes",
		} {
			if mfs[name] == nil {
				return fmt.Errorf("no %s", name)
			}
		}
		for _, name := range positive {
			if n, _ := value(mfs, name); n == 0 {
				return fmt.Errorf("%s observed nothing", name)
			}
		}
		return nil
	})
	problems, err := promlint.New(bytes.NewReader([]byte(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestPerQueueMetricsOff: without per-queue series the node's totals stay.
func TestPerQueueMetricsOff(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
	e := startEndpoint(t, n, true, false)
	c := guestClient(t, n)
	ctx := testCtx(t)
	if _, err := c.DeclareQueue(ctx, "jobs", client.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "", "jobs", client.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "totals without per-queue series", func() error {
		_, mfs := e.scrape(t)
		for name := range mfs {
			if strings.HasPrefix(name, "warren_queue_") {
				return fmt.Errorf("per-queue family %s exported", name)
			}
		}
		if v, _ := value(mfs, "warren_messages_ready"); v != 1 {
			return fmt.Errorf("warren_messages_ready = %v, want 1", v)
		}
		if v, _ := value(mfs, "warren_messages_published_total"); v != 1 {
			return fmt.Errorf("warren_messages_published_total = %v, want 1", v)
		}
		return nil
	})
}

// TestEndpointAuthentication: /livez is open; /metrics and /readyz need a
// monitoring or administrator user, by HTTP Basic.
func TestEndpointAuthentication(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{FailureDelay: time.Millisecond}})
	e := startEndpoint(t, n, true, true)
	ctx := testCtx(t)
	if _, err := n.Broker.AddUser(ctx, "prom", "scrape", []string{access.TagMonitoring}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Broker.AddUser(ctx, "app", "work", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Broker.SetPermissions(ctx, broker.Permission{User: "app", VHost: "/", Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, user, pw string
		code           int
	}{
		{"/livez", "", "", http.StatusOK},
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/readyz", "", "", http.StatusUnauthorized},
		{"/metrics", "prom", "wrong", http.StatusUnauthorized},
		{"/metrics", "app", "work", http.StatusForbidden},
		{"/readyz", "app", "work", http.StatusForbidden},
		{"/metrics", "prom", "scrape", http.StatusOK},
		{"/readyz", "prom", "scrape", http.StatusOK},
		{"/metrics", "guest", "guest", http.StatusOK}, // administrator
	}
	for _, c := range cases {
		code, body := e.get(t, c.path, c.user, c.pw)
		if code != c.code {
			t.Errorf("GET %s as %q: %d %q, want %d", c.path, c.user, code, body, c.code)
		}
	}
	if code, _ := e.get(t, "/metrics", "", ""); code == http.StatusUnauthorized {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 without a Basic challenge: %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestClusterMetricsAndReadyz: in a cluster each queue is reported by one
// node (its group's leader), each group's leader reports its peers' lag;
// /readyz is ready, then 503 with the reason once the groups have no
// leader, and "shutting down" while the node drains.
func TestClusterMetricsAndReadyz(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{QueueGroups: 2})
	eps := make([]*endpoint, len(nodes))
	for i, n := range nodes {
		eps[i] = startEndpoint(t, n, false, true)
	}
	e := eps[0]
	eventually(t, 10*time.Second, "ready", func() error {
		if code, body := e.get(t, "/readyz", "", ""); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if _, _, err := nodes[0].Broker.DeclareQueue(testCtx(t), broker.QueueSpec{VHost: "/", Name: "jobs"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the queue on one node, every group's lag from its leader", func() error {
		reporters := 0
		lagged := map[string]int{}
		for _, ep := range eps {
			_, mfs := ep.scrape(t)
			if _, ok := value(mfs, "warren_queue_messages_ready", "queue", "jobs"); ok {
				reporters++
			}
			for _, m := range mfs["warren_raft_peer_lag_entries"].GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "group" {
						lagged[lp.GetValue()]++
					}
				}
			}
		}
		if reporters != 1 {
			return fmt.Errorf("queue jobs reported by %d nodes, want 1", reporters)
		}
		for _, g := range []string{"meta", "q0", "q1"} {
			if lagged[g] != 3 {
				return fmt.Errorf("group %s: lag of %d servers reported, want 3 (by its leader)", g, lagged[g])
			}
		}
		return nil
	})
	nodes[1].Stop()
	nodes[2].Stop()
	eventually(t, 20*time.Second, "not ready without a quorum", func() error {
		code, body := e.get(t, "/readyz", "", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "no leader") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	e.srv.Drain()
	if code, body := e.get(t, "/readyz", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("draining: %d %q", code, body)
	}
	if code, _ := e.get(t, "/livez", "", ""); code != http.StatusOK {
		t.Fatalf("/livez while draining: %d", code)
	}
}
