package manage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/manage"
	"github.com/warrenmq/warren/transport/transporttest"
)

// node is a management Server in front of a real in-process node (Raft
// groups on files, gRPC on loopback), on an OS-picked port.
type node struct {
	n   *transporttest.Node
	srv *manage.Server
	url string
}

// The test users: guest is the bootstrap administrator; mon has the
// monitoring tag and no permissions; alice may configure, write and read
// what starts with "alice-" in "/"; nobody has no permissions at all.
const pw = "secret-password"

func startNode(t testing.TB, withAuth, ui bool) *node {
	t.Helper()
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
	nd := serve(t, n, withAuth, ui)
	addUsers(t, n.Broker)
	return nd
}

// serve starts a management Server in front of n.
func serve(t testing.TB, n *transporttest.Node, withAuth, ui bool) *node {
	t.Helper()
	cfg := manage.Config{Broker: n.Broker, UI: ui}
	if withAuth {
		authn, err := access.NewAuthenticator(n.Broker, access.Options{FailureDelay: time.Millisecond, FailureBurst: 100000})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Authenticator, cfg.Authorizer = authn, access.NewAuthorizer(n.Broker)
	}
	srv, err := manage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return &node{n: n, srv: srv, url: "http://" + ln.Addr().String()}
}

// addUsers creates the test users (see pw).
func addUsers(t testing.TB, b *broker.Broker) {
	t.Helper()
	ctx := testCtx(t)
	if err := b.WaitBootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, func() error { _, err := b.AddUser(ctx, "mon", pw, []string{"monitoring"}); return err })
	must(t, func() error { _, err := b.AddUser(ctx, "alice", pw, nil); return err })
	must(t, func() error { _, err := b.AddUser(ctx, "nobody", pw, nil); return err })
	must(t, func() error {
		_, err := b.SetPermissions(ctx, broker.Permission{User: "alice", VHost: "/", Configure: "^alice-", Write: "^(alice-|amq\\.default)", Read: "^alice-"})
		return err
	})
}

func must(t testing.TB, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second*transporttest.TimeoutScale())
	t.Cleanup(cancel)
	return ctx
}

// call sends method path with body (JSON-encoded unless a string) as user
// (no credentials for ""), and returns the status and the body.
func (nd *node) call(t testing.TB, user, method, path string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, nd.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		p := pw
		if user == "guest" {
			p = "guest"
		}
		req.SetBasicAuth(user, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// expect checks a call's status, and that every error body is the JSON
// error shape.
func (nd *node) expect(t testing.TB, want int, user, method, path string, body any) string {
	t.Helper()
	got, out := nd.call(t, user, method, path, body)
	if got != want {
		t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, user, got, want, out)
	}
	if got >= 400 {
		var e struct{ Error, Reason string }
		if err := json.Unmarshal([]byte(out), &e); err != nil || e.Error == "" || e.Reason == "" {
			t.Fatalf("%s %s: error body %q is not {error, reason}", method, path, out)
		}
	}
	return out
}

// TestEndpointsAndPermissions runs every endpoint as an administrator, a
// monitoring user, a user with narrow permissions, a user with none and
// no one, and checks the status of each.
func TestEndpointsAndPermissions(t *testing.T) {
	nd := startNode(t, true, false)
	q := "/api/queues/%2F/"
	x := "/api/exchanges/%2F/"

	// No credentials: 401 everywhere but login; wrong password too.
	for _, p := range []string{"/api/overview", "/api/queues", "/api/whoami", "/api/users"} {
		nd.expect(t, http.StatusUnauthorized, "", http.MethodGet, p, nil)
	}
	if got, _ := nd.call(t, "", http.MethodGet, "/api/queues", nil); got != http.StatusUnauthorized {
		t.Fatal(got)
	}
	req, _ := http.NewRequest(http.MethodGet, nd.url+"/api/queues", nil)
	req.SetBasicAuth("guest", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong password: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// whoami for each.
	out := nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/whoami", nil)
	if !strings.Contains(out, `"monitoring"`) {
		t.Fatalf("whoami: %s", out)
	}

	// Overview and nodes: monitoring and administrators.
	for _, p := range []string{"/api/overview", "/api/nodes", "/api/connections"} {
		nd.expect(t, http.StatusOK, "guest", http.MethodGet, p, nil)
		nd.expect(t, http.StatusOK, "mon", http.MethodGet, p, nil)
		nd.expect(t, http.StatusForbidden, "alice", http.MethodGet, p, nil)
	}
	out = nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/overview", nil)
	if !strings.Contains(out, `"test-node"`) || !strings.Contains(out, `"rates_history"`) || !strings.Contains(out, `"leader"`) {
		t.Fatalf("overview: %s", out)
	}

	// Queues: alice declares hers; not others'; monitoring declares none.
	nd.expect(t, http.StatusCreated, "alice", http.MethodPut, q+"alice-q", map[string]any{"arguments": map[string]any{"x-max-length": 10}})
	nd.expect(t, http.StatusNoContent, "alice", http.MethodPut, q+"alice-q", map[string]any{"arguments": map[string]any{"x-max-length": 10}})
	nd.expect(t, http.StatusConflict, "alice", http.MethodPut, q+"alice-q", map[string]any{"arguments": map[string]any{"x-max-length": 11}})
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPut, q+"other", map[string]any{})
	nd.expect(t, http.StatusForbidden, "mon", http.MethodPut, q+"mon-q", map[string]any{})
	nd.expect(t, http.StatusForbidden, "nobody", http.MethodPut, q+"alice-x", map[string]any{})
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, q+"other", map[string]any{"durable": true})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+"bad", map[string]any{"durable": false})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+"bad", map[string]any{"exclusive": true})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+"bad", map[string]any{"colour": "red"})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+"bad", map[string]any{"arguments": map[string]any{"x-unknown": 1}})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+"bad", "{not json")
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, q+strings.Repeat("n", 256), map[string]any{})
	nd.expect(t, http.StatusRequestEntityTooLarge, "guest", http.MethodPut, q+"big", `{"arguments":{"x":"`+strings.Repeat("a", 70<<10)+`"}}`)
	nd.expect(t, http.StatusNotFound, "guest", http.MethodPut, "/api/queues/nohost/q", map[string]any{})
	nd.expect(t, http.StatusMethodNotAllowed, "guest", http.MethodPost, q+"other", map[string]any{})
	nd.expect(t, http.StatusNotFound, "guest", http.MethodGet, "/api/nothing", nil)

	// Listing: alice and nobody see the vhost they have access to (alice)
	// or none (nobody: 403 for the vhost, an empty page cluster-wide).
	out = nd.expect(t, http.StatusOK, "alice", http.MethodGet, "/api/queues/%2F?sort=name", nil)
	if !strings.Contains(out, `"alice-q"`) || !strings.Contains(out, `"total_count":2`) {
		t.Fatalf("alice's list: %s", out)
	}
	nd.expect(t, http.StatusForbidden, "nobody", http.MethodGet, "/api/queues/%2F", nil)
	out = nd.expect(t, http.StatusOK, "nobody", http.MethodGet, "/api/queues", nil)
	if !strings.Contains(out, `"total_count":0`) {
		t.Fatalf("nobody's list: %s", out)
	}
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, q+"alice-q", nil)
	nd.expect(t, http.StatusNotFound, "mon", http.MethodGet, q+"missing", nil)
	nd.expect(t, http.StatusBadRequest, "mon", http.MethodGet, "/api/queues?page=0", nil)
	nd.expect(t, http.StatusBadRequest, "mon", http.MethodGet, "/api/queues?page_size=501", nil)
	nd.expect(t, http.StatusBadRequest, "mon", http.MethodGet, "/api/queues?sort=colour", nil)
	nd.expect(t, http.StatusBadRequest, "mon", http.MethodGet, "/api/queues?use_regex=true&name=(", nil)
	nd.expect(t, http.StatusBadRequest, "mon", http.MethodGet, "/api/queues?colour=red", nil)
	out = nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/queues?name=ALICE&sort=messages&sort_reverse=true", nil)
	if !strings.Contains(out, `"filtered_count":1`) {
		t.Fatalf("filtered list: %s", out)
	}

	// Publish through the default exchange, then get with requeue, ack.
	pub := map[string]any{"routing_key": "alice-q", "payload": "hello", "payload_encoding": "string", "properties": map[string]any{"headers": map[string]any{"k": "v"}}}
	out = nd.expect(t, http.StatusOK, "alice", http.MethodPost, x+"amq.default/publish", pub)
	if !strings.Contains(out, `"routed":true`) {
		t.Fatalf("publish: %s", out)
	}
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPost, x+"amq.direct/publish", pub)
	nd.expect(t, http.StatusForbidden, "mon", http.MethodPost, x+"amq.default/publish", pub)
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPost, x+"amq.default/publish", map[string]any{"payload": "x", "payload_encoding": "rot13"})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPost, x+"amq.default/publish", map[string]any{"payload": "x", "properties": map[string]any{"delivery_mode": 1}})
	nd.expect(t, http.StatusNotFound, "guest", http.MethodPost, x+"nosuch/publish", map[string]any{"payload": "x"})
	out = nd.expect(t, http.StatusOK, "guest", http.MethodPost, x+"amq.default/publish", map[string]any{"routing_key": "nowhere", "payload": "x"})
	if !strings.Contains(out, `"routed":false`) {
		t.Fatalf("unroutable publish: %s", out)
	}
	get := map[string]any{"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"}
	out = nd.expect(t, http.StatusOK, "alice", http.MethodPost, q+"alice-q/get", get)
	if !strings.Contains(out, `"payload":"hello"`) || !strings.Contains(out, `"k":"v"`) {
		t.Fatalf("get: %s", out)
	}
	out = nd.expect(t, http.StatusOK, "alice", http.MethodPost, q+"alice-q/get", get)
	if !strings.Contains(out, `"redelivered":true`) {
		t.Fatalf("requeued get not redelivered: %s", out)
	}
	nd.expect(t, http.StatusForbidden, "mon", http.MethodPost, q+"alice-q/get", get)
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPost, q+"other/get", get)
	nd.expect(t, http.StatusBadRequest, "alice", http.MethodPost, q+"alice-q/get", map[string]any{"count": 1, "ackmode": "maybe"})
	nd.expect(t, http.StatusBadRequest, "alice", http.MethodPost, q+"alice-q/get", map[string]any{"count": 0, "ackmode": "ack_requeue_true"})
	// The message is ready again: 1.
	waitReady(t, nd, "alice-q", 1)
	nd.expect(t, http.StatusForbidden, "mon", http.MethodDelete, q+"alice-q/contents", nil)
	nd.expect(t, http.StatusNoContent, "alice", http.MethodDelete, q+"alice-q/contents", nil)
	waitReady(t, nd, "alice-q", 0)
	nd.expect(t, http.StatusOK, "alice", http.MethodPost, x+"amq.default/publish", pub)
	out = nd.expect(t, http.StatusOK, "alice", http.MethodPost, q+"alice-q/get", map[string]any{"count": 1, "ackmode": "ack_requeue_false"})
	if !strings.Contains(out, `"message_count":0`) {
		t.Fatalf("get ack: %s", out)
	}
	waitReady(t, nd, "alice-q", 0)

	// Exchanges and bindings.
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/exchanges", nil)
	nd.expect(t, http.StatusOK, "alice", http.MethodGet, "/api/exchanges/%2F?sort=type", nil)
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, x+"amq.default", nil)
	nd.expect(t, http.StatusNotFound, "mon", http.MethodGet, x+"nosuch", nil)
	nd.expect(t, http.StatusCreated, "alice", http.MethodPut, x+"alice-x", map[string]any{"type": "topic"})
	nd.expect(t, http.StatusNoContent, "alice", http.MethodPut, x+"alice-x", map[string]any{"type": "topic"})
	nd.expect(t, http.StatusConflict, "alice", http.MethodPut, x+"alice-x", map[string]any{"type": "fanout"})
	nd.expect(t, http.StatusBadRequest, "alice", http.MethodPut, x+"alice-y", map[string]any{"type": "sideways"})
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPut, x+"other-x", map[string]any{"type": "topic"})
	nd.expect(t, http.StatusForbidden, "guest", http.MethodPut, x+"amq.mine", map[string]any{"type": "topic"})
	nd.expect(t, http.StatusCreated, "alice", http.MethodPost, "/api/bindings/%2F/e/alice-x/q/alice-q", map[string]any{"routing_key": "a.#"})
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPost, "/api/bindings/%2F/e/alice-x/q/other", map[string]any{"routing_key": "a.#"})
	nd.expect(t, http.StatusNotFound, "alice", http.MethodPost, "/api/bindings/%2F/e/alice-x/z/alice-q", map[string]any{})
	out = nd.expect(t, http.StatusOK, "alice", http.MethodGet, q+"alice-q/bindings", nil)
	if !strings.Contains(out, `"a.#"`) {
		t.Fatalf("queue bindings: %s", out)
	}
	out = nd.expect(t, http.StatusOK, "mon", http.MethodGet, x+"alice-x/bindings/source", nil)
	if !strings.Contains(out, `"alice-q"`) {
		t.Fatalf("exchange bindings: %s", out)
	}
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/bindings", nil)
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/bindings/%2F", nil)
	nd.expect(t, http.StatusNoContent, "alice", http.MethodDelete, "/api/bindings/%2F/e/alice-x/q/alice-q/a.%23", nil)
	nd.expect(t, http.StatusForbidden, "alice", http.MethodDelete, x+"other-x", nil)
	nd.expect(t, http.StatusNoContent, "alice", http.MethodDelete, x+"alice-x", nil)
	nd.expect(t, http.StatusNotFound, "alice", http.MethodDelete, x+"alice-x", nil)

	// Users, vhosts, permissions: administrators only.
	for _, p := range []string{"/api/users", "/api/permissions", "/api/users/alice", "/api/permissions/%2F/alice"} {
		nd.expect(t, http.StatusOK, "guest", http.MethodGet, p, nil)
		nd.expect(t, http.StatusForbidden, "mon", http.MethodGet, p, nil)
		nd.expect(t, http.StatusForbidden, "alice", http.MethodGet, p, nil)
	}
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/vhosts", nil)
	nd.expect(t, http.StatusOK, "mon", http.MethodGet, "/api/vhosts/%2F", nil)
	nd.expect(t, http.StatusForbidden, "nobody", http.MethodGet, "/api/vhosts/%2F", nil)
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/users/bob", map[string]any{"password": "bobs-password", "tags": "monitoring"})
	nd.expect(t, http.StatusNoContent, "guest", http.MethodPut, "/api/users/bob", map[string]any{"tags": []string{}})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, "/api/users/bob", map[string]any{"password_hash": "x"})
	nd.expect(t, http.StatusForbidden, "mon", http.MethodPut, "/api/users/eve", map[string]any{"password": "x"})
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/vhosts/dev", nil)
	nd.expect(t, http.StatusNoContent, "guest", http.MethodPut, "/api/vhosts/dev", nil)
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPut, "/api/vhosts/dev2", nil)
	nd.expect(t, http.StatusCreated, "guest", http.MethodPut, "/api/permissions/dev/bob", map[string]any{"configure": ".*", "write": ".*", "read": ".*"})
	nd.expect(t, http.StatusBadRequest, "guest", http.MethodPut, "/api/permissions/dev/bob", map[string]any{"configure": "(", "write": "", "read": ""})
	nd.expect(t, http.StatusForbidden, "alice", http.MethodPut, "/api/permissions/dev/alice", map[string]any{"configure": ".*", "write": ".*", "read": ".*"})
	nd.expect(t, http.StatusNoContent, "guest", http.MethodDelete, "/api/permissions/dev/bob", nil)
	nd.expect(t, http.StatusNotFound, "guest", http.MethodGet, "/api/permissions/dev/bob", nil)
	nd.expect(t, http.StatusNoContent, "guest", http.MethodDelete, "/api/vhosts/dev", nil)
	nd.expect(t, http.StatusNoContent, "guest", http.MethodDelete, "/api/users/bob", nil)
	nd.expect(t, http.StatusNotFound, "guest", http.MethodGet, "/api/users/bob", nil)

	// Delete the queues.
	nd.expect(t, http.StatusForbidden, "alice", http.MethodDelete, q+"other", nil)
	nd.expect(t, http.StatusBadRequest, "alice", http.MethodDelete, q+"alice-q?if-full=true", nil)
	nd.expect(t, http.StatusNoContent, "alice", http.MethodDelete, q+"alice-q?if-empty=true", nil)
	nd.expect(t, http.StatusNotFound, "alice", http.MethodGet, q+"alice-q", nil)
	nd.expect(t, http.StatusNoContent, "guest", http.MethodDelete, q+"other", nil)
}

// waitReady waits until queue's ready count in "/" is want.
func waitReady(t testing.TB, nd *node, queue string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second * transporttest.TimeoutScale())
	for {
		_, out := nd.call(t, "guest", http.MethodGet, "/api/queues/%2F/"+queue, nil)
		if strings.Contains(out, fmt.Sprintf(`"messages_ready":%d,`, want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s: ready never %d: %s", queue, want, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionLoginCSRFAndOrigin: a login session's cookie is HttpOnly and
// SameSite=Strict; its changes need the CSRF token and the same origin.
func TestSessionLoginCSRFAndOrigin(t *testing.T) {
	nd := startNode(t, true, false)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	do := func(method, path, body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, nd.url+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, string(out)
	}
	resp, _ := do(http.MethodPost, "/api/login", `{"username":"alice","password":"wrong"}`, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
	resp, _ = do(http.MethodPost, "/api/login", `{"username":"alice","password":"`+pw+`"}`, map[string]string{"Origin": "http://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
	resp, out := do(http.MethodPost, "/api/login", `{"username":"alice","password":"`+pw+`"}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, out)
	}
	ck := resp.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || strings.Contains(ck, "Secure") {
		t.Fatalf("cookie %q", ck)
	}
	var who struct {
		Name      string `json:"name"`
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(out), &who); err != nil || who.Name != "alice" || who.CSRFToken == "" {
		t.Fatalf("login answer %s", out)
	}
	if resp, _ := do(http.MethodGet, "/api/queues", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session read: %d", resp.StatusCode)
	}
	body := `{}`
	if resp, _ := do(http.MethodPut, "/api/queues/%2F/alice-s", body, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("change without CSRF token: %d", resp.StatusCode)
	}
	if resp, _ := do(http.MethodPut, "/api/queues/%2F/alice-s", body, map[string]string{"X-CSRF-Token": "nope"}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("change with a wrong CSRF token: %d", resp.StatusCode)
	}
	tok := map[string]string{"X-CSRF-Token": who.CSRFToken, "Sec-Fetch-Site": "cross-site"}
	if resp, _ := do(http.MethodPut, "/api/queues/%2F/alice-s", body, tok); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site change: %d", resp.StatusCode)
	}
	tok = map[string]string{"X-CSRF-Token": who.CSRFToken, "Origin": nd.url, "Sec-Fetch-Site": "same-origin"}
	if resp, out := do(http.MethodPut, "/api/queues/%2F/alice-s", body, tok); resp.StatusCode != http.StatusCreated {
		t.Fatalf("same-origin change: %d %s", resp.StatusCode, out)
	}
	if resp, _ := do(http.MethodPost, "/api/logout", "", tok); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := do(http.MethodGet, "/api/queues", "", map[string]string{"X-Warren-UI": "1"}); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("after logout: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Security headers on every answer.
	resp, _ = do(http.MethodGet, "/api/whoami", "", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
}

// TestNoAuthNodeAndUIToggle: a node without authentication answers as an
// administrator; the UI is served only with Config.UI.
func TestNoAuthNodeAndUIToggle(t *testing.T) {
	nd := startNode(t, false, false)
	nd.expect(t, http.StatusOK, "", http.MethodGet, "/api/users", nil)
	nd.expect(t, http.StatusNotFound, "", http.MethodPut, "/api/queues/nohost/q", map[string]any{})
	nd.expect(t, http.StatusNotFound, "", http.MethodGet, "/api/queues/nohost", nil)
	if got, _ := nd.call(t, "", http.MethodGet, "/", nil); got != http.StatusNotFound {
		t.Fatalf("UI off: / answers %d", got)
	}
	ui := startNode(t, false, true)
	got, out := ui.call(t, "", http.MethodGet, "/", nil)
	if got != http.StatusOK || !strings.Contains(out, "<title>Warren") {
		t.Fatalf("UI on: / answers %d %.200s", got, out)
	}
}
