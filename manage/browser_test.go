package manage_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/transporttest"
)

// hostileName is a queue name that would run script if the UI inserted
// names as HTML.
const hostileName = `<img src=x onerror=alert(1)>`

// chromiumPath finds a Chromium or Chrome binary, "" when none is
// installed.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where screenshots go: $WARREN_TEST_ARTIFACTS, or a new
// directory under the system's temporary directory (kept, and logged).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("WARREN_TEST_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "warren-ui-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("UI screenshots in %s", dir)
	return dir
}

// TestBrowser drives headless Chromium through the UI of a real node: log
// in, overview, create a queue, publish from the exchange page, watch the
// ready count change without a reload, get, purge, delete; a user without
// permissions sees the refusal; a hostile queue name renders as text.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: slow; runs without -short")
	}
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("browser test skipped: no chromium binary on PATH (Debian: apt-get install -y chromium)")
	}
	nd := startNode(t, true, true)
	ctx := testCtx(t)
	if _, _, err := nd.n.Broker.DeclareQueue(ctx, broker.QueueSpec{VHost: "/", Name: hostileName}); err != nil {
		t.Fatal(err)
	}
	shots := artifactDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// A name that ran as script would open an alert: count and close any.
	var dialogs atomic.Int32
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chrome, err)
	}
	opened := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range opened {
			if err != nil {
				return
			}
			dialogs.Add(1)
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	wait := 30 * time.Second * transporttest.TimeoutScale()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, wait)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			shot, _ := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			if len(shot) > 0 {
				_ = os.WriteFile(filepath.Join(shots, "failed.png"), shot, 0o644)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	screenshot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	// until polls a JavaScript condition (the page's own polling updates
	// it; the test never reloads).
	until := func(js string) chromedp.Action[chromedp.Void] {
		// An element the view has not drawn yet is a condition not met yet.
		js = `(() => { try { return !!(` + js + `); } catch (e) { return false; } })()`
		return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(wait))
	}
	js := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			return err
		})
	}
	queueRow := func(name, cell string) string {
		return fmt.Sprintf(`(() => { const r = [...document.querySelectorAll('#queues-table tbody tr')].find(tr => { const a = tr.querySelector('td.qname a'); return a && a.textContent === %q; }); return r ? r.querySelector(%q).textContent : null; })()`, name, cell)
	}
	login := func(user, password string) {
		step("log in as "+user,
			chromedp.WaitVisible(chromedp.CSS(`#login-user`)),
			js(`(document.querySelector('#login-user').value = '', true)`),
			chromedp.SendKeys(chromedp.CSS(`#login-user`), user),
			chromedp.SendKeys(chromedp.CSS(`#login-password`), password),
			chromedp.Click(chromedp.CSS(`#login-submit`)),
			chromedp.WaitVisible(chromedp.CSS(`#nav`)))
	}

	step("open the UI", chromedp.Navigate(nd.url+"/"))
	login("guest", "guest")
	step("overview",
		until(`document.querySelectorAll('#members-table tbody tr').length === 1 && document.querySelector('#total-queues') !== null`),
		until(`document.querySelector('#members-table').textContent.includes('test-node')`),
		screenshot("overview"))

	step("create a queue",
		chromedp.Click(chromedp.CSS(`#nav-queues`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-queue-name`)),
		chromedp.SendKeys(chromedp.CSS(`#new-queue-name`), "ui-q"),
		chromedp.Click(chromedp.CSS(`#new-queue-submit`)),
		until(queueRow("ui-q", "td.ready")+` === "0"`))
	step("hostile name shows as text",
		until(queueRow(hostileName, "td.qname")+` === `+fmt.Sprintf("%q", hostileName)),
		until(`document.querySelectorAll('#queues-table img').length === 0`),
		screenshot("queues"))

	step("publish from the exchange page",
		chromedp.Navigate(nd.url+"/#/exchange/%2F/amq.default"),
		chromedp.WaitVisible(chromedp.CSS(`#publish-key`)),
		chromedp.SendKeys(chromedp.CSS(`#publish-key`), "ui-q"),
		chromedp.SendKeys(chromedp.CSS(`#publish-payload`), "hello from the browser"),
		chromedp.Click(chromedp.CSS(`#publish-submit`)),
		until(`document.querySelector('#publish-result').textContent === 'Message published.'`),
		screenshot("exchange"))

	step("the queue list shows the message",
		chromedp.Click(chromedp.CSS(`#nav-queues`)),
		until(queueRow("ui-q", "td.ready")+` === "1"`))
	step("queue page",
		chromedp.Navigate(nd.url+"/#/queue/%2F/ui-q"),
		until(`document.querySelector('#queue-ready') && document.querySelector('#queue-ready').textContent === '1'`))
	// A message published elsewhere shows up by the page's own polling.
	nd.expect(t, http.StatusOK, "guest", http.MethodPost, "/api/exchanges/%2F/amq.default/publish", map[string]any{"routing_key": "ui-q", "payload": "second"})
	step("ready count updates without a reload",
		until(`document.querySelector('#queue-consumers').textContent.includes('None.')`),
		until(`document.querySelector('#queue-ready').textContent === '2'`),
		screenshot("queue"))
	step("get the message (requeue)",
		chromedp.Click(chromedp.CSS(`#get-button`)),
		until(`document.querySelector('#get-results').textContent.includes('hello from the browser')`),
		until(`document.querySelector('#queue-ready').textContent === '2'`),
		screenshot("queue-get"))
	step("purge with confirmation",
		chromedp.Click(chromedp.CSS(`#purge-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-yes`)),
		chromedp.Click(chromedp.CSS(`#confirm-yes`)),
		until(`document.querySelector('#queue-ready').textContent === '0'`))
	step("delete with confirmation",
		chromedp.Click(chromedp.CSS(`#delete-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-yes`)),
		chromedp.Click(chromedp.CSS(`#confirm-yes`)),
		until(`location.hash === '#/queues'`),
		until(`document.querySelectorAll('#queues-table tbody tr').length >= 1 && `+queueRow("ui-q", "td.ready")+` === null && `+queueRow(hostileName, "td.ready")+` !== null`))
	if _, err := nd.n.Broker.Queue("/", "ui-q"); err == nil {
		t.Fatal("ui-q still exists after the UI deleted it")
	}

	step("admin page", chromedp.Click(chromedp.CSS(`#nav-admin`)),
		until(`document.querySelector('#users-table').textContent.includes('alice')`), screenshot("admin"))
	step("exchanges page", chromedp.Click(chromedp.CSS(`#nav-exchanges`)),
		until(`document.querySelector('#exchanges-table').textContent.includes('amq.topic')`), screenshot("exchanges"))
	step("sessions page", chromedp.Click(chromedp.CSS(`#nav-connections`)),
		until(`document.querySelector('#connections-table tbody') !== null`))

	// A monitoring user sees everything and can change nothing.
	step("log out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-user`)))
	login("mon", pw)
	step("monitoring view is read-only",
		chromedp.Click(chromedp.CSS(`#nav-queues`)),
		until(queueRow(hostileName, "td.ready")+` === "0"`),
		until(`document.querySelector('#new-queue-name') === null && document.querySelector('.readonly-note') !== null`),
		until(`document.querySelector('#nav-admin').hidden`))

	step("log out", chromedp.Click(chromedp.CSS(`#logout`)), chromedp.WaitVisible(chromedp.CSS(`#login-user`)))
	login("nobody", pw)
	step("a user without permission sees the refusal",
		chromedp.Click(chromedp.CSS(`#nav-overview`)),
		until(`!document.querySelector('#error').hidden && document.querySelector('#error').textContent.includes('monitoring')`),
		chromedp.Click(chromedp.CSS(`#nav-queues`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-queue-name`)),
		chromedp.SendKeys(chromedp.CSS(`#new-queue-name`), "nobodys-q"),
		chromedp.Click(chromedp.CSS(`#new-queue-submit`)),
		until(`document.querySelector('#error').textContent.includes('permission')`),
		screenshot("refused"))
	if _, err := nd.n.Broker.Queue("/", "nobodys-q"); err == nil {
		t.Fatal("a user without permission created a queue")
	}
	if n := dialogs.Load(); n != 0 {
		t.Fatalf("%d JavaScript dialogs opened: a name ran as script", n)
	}
	entries, _ := os.ReadDir(shots)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("screenshots: %s", strings.Join(names, ", "))
}
