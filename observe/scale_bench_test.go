package observe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/observe"
	"github.com/warrenmq/warren/transport/transporttest"
)

// BenchmarkScrape scrapes /metrics of a node with N queues (each holding
// one message) and reports the series the node exports ("series") and the
// time of one scrape (ns/op, the HTTP round trip on loopback included):
//
//	go test -run '^$' -bench BenchmarkScrape -benchtime 20x ./observe
func BenchmarkScrape(b *testing.B) {
	for _, tc := range []struct {
		queues   int
		perQueue bool
	}{{10, true}, {1000, true}, {10000, true}, {10000, false}} {
		b.Run(fmt.Sprintf("queues=%d/per-queue=%t", tc.queues, tc.perQueue), func(b *testing.B) {
			n := transporttest.Start(b, transporttest.Options{})
			e := startEndpoint(b, n, false, tc.perQueue)
			fill(b, n, tc.queues)
			var body string
			eventually(b, time.Minute, "every queue exported", func() error {
				_, mfs := e.scrape(b)
				if v, _ := value(mfs, "warren_messages_ready"); int(v) != tc.queues {
					return fmt.Errorf("%v ready messages", v)
				}
				_, body = e.get(b, "/metrics", "", "")
				return nil
			})
			series := countSeries(body)
			if want := observe.PerQueueSeries * tc.queues; tc.perQueue && series < want {
				b.Fatalf("%d series, fewer than %d per-queue ones", series, want)
			}
			for b.Loop() {
				resp, err := http.Get(e.url + "/metrics")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(len(body)), "bytes")
		})
	}
}

// countSeries counts the samples of a text exposition.
func countSeries(body string) int {
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// fill declares queues q00000… on n, 64 at a time, and publishes one
// message to each.
func fill(b *testing.B, n *transporttest.Node, queues int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	names := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				if _, _, err := n.Broker.DeclareQueue(ctx, broker.QueueSpec{VHost: "/", Name: name}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var entries []broker.PublishEntry
	for i := 0; i < queues; i++ {
		name := fmt.Sprintf("q%05d", i)
		names <- name
		entries = append(entries, broker.PublishEntry{RoutingKey: name, Message: broker.Message{Body: []byte("x")}})
	}
	close(names)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	for len(entries) > 0 {
		k := min(len(entries), 5000)
		if _, err := n.Broker.Publish(ctx, "/", "", entries[:k]); err != nil {
			b.Fatal(err)
		}
		entries = entries[k:]
	}
}
