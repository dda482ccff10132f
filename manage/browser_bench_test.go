package manage_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/warrenmq/warren/transport/transporttest"
)

// BenchmarkUIQueues10k loads the UI's queue list of a node with 10,000
// queues in headless Chromium and reports, once: the time from navigation
// to the first page of the table drawn ("load-ms"), the time of one data
// refresh as the page's polling does it ("refresh-ms"), and the CPU the
// node's process spends over 30 s with that tab open, less the same 30 s
// with the tab on a blank page ("tab-cpu-%", of one core):
//
//	go test -run '^$' -bench BenchmarkUIQueues10k -benchtime 1x ./manage
func BenchmarkUIQueues10k(b *testing.B) {
	chrome := chromiumPath()
	if chrome == "" {
		b.Skip("no chromium binary on PATH")
	}
	n := transporttest.Start(b, transporttest.Options{})
	nd := serve(b, n, false, true)
	fillQueues(b, n, 10_000)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelT()
	drawn := chromedp.Poll[chromedp.Void](`(() => { try { return document.querySelectorAll('#queues-table tbody tr').length === 100; } catch (e) { return false; } })()`,
		chromedp.WithPollingInterval(5*time.Millisecond))
	if err := chromedp.Do(ctx, chromedp.Navigate(nd.url+"/"), chromedp.WaitVisible(chromedp.CSS(`#nav`))); err != nil {
		b.Fatal(err)
	}
	var load, refresh float64
	for b.Loop() {
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(nd.url+"/#/queues"), drawn); err != nil {
			b.Fatal(err)
		}
		load = float64(time.Since(start).Microseconds()) / 1000
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(async () => { const t = performance.now(); await state.view.refresh(); return performance.now() - t; })()`,
			chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		refresh = ms
	}
	b.ReportMetric(load, "load-ms")
	b.ReportMetric(refresh, "refresh-ms")

	const span = 30 * time.Second
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	c0 := cpu()
	time.Sleep(span)
	idle := cpu() - c0
	if err := chromedp.Do(ctx, chromedp.Navigate(nd.url+"/#/queues"), drawn); err != nil {
		b.Fatal(err)
	}
	c0 = cpu()
	time.Sleep(span)
	open := cpu() - c0
	b.ReportMetric(float64(open-idle)/float64(span)*100, "tab-cpu-%")
	b.ReportMetric(float64(idle)/float64(span)*100, "idle-node-cpu-%")
}
