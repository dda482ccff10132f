package manage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/manage"
	"github.com/warrenmq/warren/transport/transporttest"
)

// BenchmarkQueuesPage10k times one call of the queue list a UI tab makes
// every 5 s, and the overview, on a node with 10,000 queues (one message
// each), the HTTP round trip on loopback included. Sorting by name pages
// from the definitions and reads counts for the page only; sorting by a
// count reads every queue's counts:
//
//	go test -run '^$' -bench BenchmarkQueuesPage10k -benchtime 10x ./manage
func BenchmarkQueuesPage10k(b *testing.B) {
	const queues = 10_000
	n := transporttest.Start(b, transporttest.Options{})
	nd := serve(b, n, false, true)
	fillQueues(b, n, queues)
	b.ReportMetric(float64(manage.UIAssetBytes()), "ui-bytes")
	for _, path := range []string{
		"/api/queues?page=1&page_size=100&sort=name",
		"/api/queues?page=50&page_size=100&sort=name",
		"/api/queues?page=1&page_size=100&name=q0999",
		"/api/queues?page=1&page_size=100&sort=messages_ready&sort_reverse=true",
		"/api/overview",
	} {
		b.Run(path, func(b *testing.B) {
			var size int
			for b.Loop() {
				resp, err := http.Get(nd.url + path)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %v", path, resp.StatusCode, err)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// fillQueues declares queues q00000… on n, 64 at a time, and publishes
// one message to each.
func fillQueues(b *testing.B, n *transporttest.Node, queues int) {
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
