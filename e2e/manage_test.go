package e2e_test

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestProcessManagementOverTLS: a warren-node process with TLS and
// --http-ui=false serves the management API on its HTTPS endpoint — to a
// client certificate naming a user, and to a login whose session cookie is
// Secure — and no UI.
func TestProcessManagementOverTLS(t *testing.T) {
	dir := t.TempDir()
	clientCfg := tlsFiles(t, dir, "mgmt-node")
	guestCert := guestClientCert(t, dir)
	p := &nodeProc{
		t: t, id: "mgmt-node", dataDir: t.TempDir(), logPath: filepath.Join(t.TempDir(), "node.log"),
		grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t), readOnlyProbe: true,
	}
	p.extra = append(tlsFlags(dir, "mgmt-node"), "--tls-client-ca", filepath.Join(dir, "ca.pem"), "--http-ui=false")
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
	user := &http.Client{Timeout: scaled(10 * time.Second), Transport: &http.Transport{TLSClientConfig: withCert}}
	if code, body := fetch(t, user, base+"/api/overview", "", ""); code != http.StatusOK || !strings.Contains(body, `"mgmt-node"`) {
		t.Fatalf("/api/overview with guest's client certificate: %d %.200s", code, body)
	}
	if code, body := fetch(t, user, base+"/", "", ""); code != http.StatusNotFound || !strings.Contains(body, "--http-ui=false") {
		t.Fatalf("/ with --http-ui=false: %d %.200s", code, body)
	}
	anon := &http.Client{Timeout: scaled(10 * time.Second), Transport: &http.Transport{TLSClientConfig: clientCfg}}
	if code, _ := fetch(t, anon, base+"/api/queues", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("/api/queues without credentials: %d, want 401", code)
	}
	resp, err := anon.Post(base+"/api/login", "application/json", strings.NewReader(`{"username":"guest","password":"guest"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusOK || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") {
		t.Fatalf("login over TLS: %d, cookie %q", resp.StatusCode, ck)
	}
}
