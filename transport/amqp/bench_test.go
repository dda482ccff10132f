package amqp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/client"
)

// BenchmarkThroughput compares AMQP (amqp091-go) with the gRPC SDK on one
// in-process node: 1 KiB messages published with confirms (up to 100
// unconfirmed at a time), consumed with manual acks and prefetch 100.
// One op is one message published, confirmed, delivered and acked.
// Speed is measured here, never asserted (run it alone:
// go test ./transport/amqp -run X -bench Throughput).
func BenchmarkThroughput(b *testing.B) {
	body := make([]byte, 1024)
	b.Run("amqp", func(b *testing.B) {
		s := startServer(b, serverOptions{})
		conn, err := amqp091.Dial(s.url("guest", "guest", "/"))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		pub, _ := conn.Channel()
		if _, err := pub.QueueDeclare("bench", true, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
		if err := pub.Confirm(false); err != nil {
			b.Fatal(err)
		}
		confirms := pub.NotifyPublish(make(chan amqp091.Confirmation, 200))
		cconn, err := amqp091.Dial(s.url("guest", "guest", "/"))
		if err != nil {
			b.Fatal(err)
		}
		defer cconn.Close()
		cons, _ := cconn.Channel()
		_ = cons.Qos(100, 0, false)
		msgs, err := cons.Consume("bench", "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			for n := 0; n < b.N; n++ {
				d := <-msgs
				_ = d.Ack(false)
			}
			close(done)
		}()
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		inflight := 0
		for i := 0; i < b.N; i++ {
			for inflight >= 100 {
				if c := <-confirms; !c.Ack {
					b.Fatal("nack")
				}
				inflight--
			}
			if err := pub.PublishWithContext(context.Background(), "", "bench", false, false, amqp091.Publishing{Body: body}); err != nil {
				b.Fatal(err)
			}
			inflight++
		}
		for ; inflight > 0; inflight-- {
			<-confirms
		}
		select {
		case <-done:
		case <-time.After(scaled(5 * time.Minute)):
			b.Fatal("consumer did not get every message")
		}
	})
	b.Run("grpc", func(b *testing.B) {
		s := startServer(b, serverOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, err := client.New(ctx, []string{s.node.Addr})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.DeclareQueue(ctx, "bench", client.QueueOptions{}); err != nil {
			b.Fatal(err)
		}
		got := make(chan struct{}, 1024)
		go func() {
			_ = c.Consume(ctx, "bench", func(context.Context, *client.Delivery) error {
				got <- struct{}{}
				return nil
			}, client.ConsumeOptions{Prefetch: 100})
		}()
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		futures := make([]*client.PublishFuture, 0, 100)
		for i := 0; i < b.N; i++ {
			if len(futures) == 100 {
				if _, err := futures[0].Wait(ctx); err != nil {
					b.Fatal(err)
				}
				futures = futures[1:]
			}
			futures = append(futures, c.PublishAsync(ctx, "", "bench", client.Message{Body: body}))
		}
		for _, f := range futures {
			if _, err := f.Wait(ctx); err != nil {
				b.Fatal(fmt.Errorf("publish: %w", err))
			}
		}
		for n := 0; n < b.N; n++ {
			select {
			case <-got:
			case <-time.After(scaled(5 * time.Minute)):
				b.Fatal("consumer did not get every message")
			}
		}
	})
}
