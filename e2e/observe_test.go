package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/certs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// What an operator sees of a real warren-node process: the HTTP endpoint
// (/livez, /readyz, /metrics clean under promlint, behind authentication,
// over TLS with the client API's certificate), gRPC health through the
// SIGTERM hand-off, and JSON logs.

var httpAddrRE = regexp.MustCompile(`http endpoint:.* http=([0-9.:\[\]]+)`)

// httpAddr is the address the node logged for its HTTP endpoint.
func (p *nodeProc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	eventually(t, 10*time.Second, p.id+" logs its HTTP address", func() error {
		m := httpAddrRE.FindAllStringSubmatch(p.log(), -1)
		if len(m) == 0 {
			return errors.New("no http endpoint line")
		}
		addr = m[len(m)-1][1]
		return nil
	})
	return addr
}

// fetch GETs url with Basic credentials (none when user is "").
func fetch(t *testing.T, hc *http.Client, url, user, pw string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestProcessHTTPEndpoint: a node's /metrics after some traffic is clean
// under promlint and needs a monitoring user; /livez needs none; /readyz is
// ready.
func TestProcessHTTPEndpoint(t *testing.T) {
	p := startNodeProc(t, t.TempDir())
	c := newClient(t, p.grpcAddr)
	declareQueue(t, c, "jobs", nil)
	publishIDs(t, c, "jobs", "m", 20)
	base := "http://" + p.httpAddr(t)
	hc := &http.Client{Timeout: scaled(10 * time.Second)}

	if code, body := fetch(t, hc, base+"/livez", "", ""); code != http.StatusOK {
		t.Fatalf("/livez: %d %s", code, body)
	}
	if code, _ := fetch(t, hc, base+"/metrics", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	if code, body := fetch(t, hc, base+"/readyz", "guest", "guest"); code != http.StatusOK || !strings.Contains(body, "ready") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	var body string
	eventually(t, 10*time.Second, "the queue's series", func() error {
		var code int
		code, body = fetch(t, hc, base+"/metrics", "guest", "guest")
		if code != http.StatusOK {
			return fmt.Errorf("/metrics: %d", code)
		}
		for _, want := range []string{
			`warren_queue_messages_ready{queue="jobs",vhost="/"} 20`,
			`warren_queue_messages_published_total{queue="jobs",vhost="/"} 20`,
			`warren_raft_is_leader{group="meta"} 1`,
			`warren_publish_confirm_duration_seconds_count 20`,
			`warren_build_info{`,
		} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("no %s", want)
			}
		}
		return nil
	})
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	t.Logf("/metrics: %d lines, %d bytes", strings.Count(body, "\n"), len(body))
}

// TestProcessHealthThroughShutdown: grpc.health.v1 answers without a
// login; on SIGTERM a watcher sees NOT_SERVING, then the process exits.
func TestProcessHealthThroughShutdown(t *testing.T) {
	p := startNodeProc(t, t.TempDir())
	cc, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	ctx := testCtx(t, 30*time.Second)
	hc := healthpb.NewHealthClient(cc)
	for _, svc := range []string{"", "warren.v1.BrokerService", "warren.v1.AccessService"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) = %v %v", svc, r.GetStatus(), err)
		}
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", r.GetStatus(), err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r, err := w.Recv()
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after SIGTERM: %v %v, want NOT_SERVING", r.GetStatus(), err)
	}
	for {
		if _, err := w.Recv(); err != nil {
			if c := status.Code(err); !errors.Is(err, io.EOF) && c != codes.Canceled && c != codes.Unavailable {
				t.Fatalf("Watch ended with %v", err)
			}
			break
		}
	}
	select {
	case <-p.exited:
	case <-time.After(scaled(15 * time.Second)):
		t.Fatal("warren-node did not exit after SIGTERM")
	}
	if p.waitErr != nil {
		t.Fatalf("exit: %v", p.waitErr)
	}
}

// TestProcessEndpointsOverTLS: with --tls-cert and --tls-client-ca the
// HTTP endpoint and gRPC health are served over TLS; a probe without a
// client certificate reaches /livez, and a client certificate naming a
// user logs in to /metrics as on gRPC.
func TestProcessEndpointsOverTLS(t *testing.T) {
	dir := t.TempDir()
	clientCfg := tlsFiles(t, dir, "tls-node")
	guestCert := guestClientCert(t, dir)
	p := &nodeProc{
		t: t, id: "tls-node", dataDir: t.TempDir(), logPath: filepath.Join(t.TempDir(), "node.log"),
		grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), readOnlyProbe: true,
	}
	p.extra = append(tlsFlags(dir, "tls-node"), "--tls-client-ca", filepath.Join(dir, "ca.pem"))
	withCert := clientCfg.Clone()
	withCert.Certificates = []tls.Certificate{guestCert}
	p.clientOpts = []client.Option{client.WithTLS(withCert)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", p.log())
		}
	})
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	base := "https://" + p.httpAddr(t)
	probe := &http.Client{Timeout: scaled(10 * time.Second), Transport: &http.Transport{TLSClientConfig: clientCfg}}
	if code, body := fetch(t, probe, base+"/livez", "", ""); code != http.StatusOK {
		t.Fatalf("/livez over TLS without a client certificate: %d %s", code, body)
	}
	if code, _ := fetch(t, probe, base+"/metrics", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials: %d, want 401", code)
	}
	user := &http.Client{Timeout: scaled(10 * time.Second), Transport: &http.Transport{TLSClientConfig: withCert}}
	if code, body := fetch(t, user, base+"/metrics", "", ""); code != http.StatusOK || !strings.Contains(body, "warren_ready 1") {
		t.Fatalf("/metrics with guest's client certificate: %d %.200s", code, body)
	}
	plain := &http.Client{Timeout: scaled(10 * time.Second)}
	if _, err := plain.Get("http://" + p.httpAddr(t) + "/livez"); err == nil {
		// A plaintext request to a TLS port gets a 400 from Go's TLS
		// listener, not the endpoint: it must not be served.
		code, body := fetch(t, plain, "http://"+p.httpAddr(t)+"/livez", "", "")
		if code == http.StatusOK {
			t.Fatalf("plain HTTP served: %d %s", code, body)
		}
	}
	cc, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(withCert)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	r, err := healthpb.NewHealthClient(cc).Check(testCtx(t, 10*time.Second), &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over TLS: %v %v", r.GetStatus(), err)
	}
}

// TestProcessJSONLogs: with --log-format json every line is a JSON object,
// and the lines about a Raft group carry it as "group".
func TestProcessJSONLogs(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "node.log")
	p := &nodeProc{t: t, dataDir: dir, grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), logPath: logPath}
	p.extra = []string{"--log-format", "json"}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, p.grpcAddr)
	declareQueue(t, c, "jobs", nil)
	sc := bufio.NewScanner(bytes.NewReader([]byte(p.log())))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, groupLines := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "=== start") { // the test's own marker
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		lines++
		for _, k := range []string{"@timestamp", "@level", "@message", "@module"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("line without %s: %q", k, line)
			}
		}
		if mod, _ := rec["@module"].(string); strings.HasPrefix(mod, "warren.raft.") {
			groupLines++
			if g, _ := rec["group"].(string); g == "" || !strings.HasPrefix(mod, "warren.raft."+g) {
				t.Errorf("a %s line without its group: %q", mod, line)
			}
		}
	}
	if lines == 0 || groupLines == 0 {
		t.Fatalf("%d JSON lines, %d of Raft groups", lines, groupLines)
	}
}

// guestClientCert is a client certificate naming the user guest, signed by
// the CA tlsFiles wrote into dir.
func guestClientCert(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := certs.NewCert(caPEM, caKey, certs.CertOptions{CommonName: "guest", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	guestCert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return guestCert
}
