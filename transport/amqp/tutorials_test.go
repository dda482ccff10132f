package amqp_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// The six RabbitMQ tutorials (rabbitmq.com/tutorials), as amqp091-go runs
// them, against Warren.

func TestTutorialHelloWorld(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	q, err := ch.QueueDeclare("hello", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "", q.Name, false, false, amqp091.Publishing{ContentType: "text/plain", Body: []byte("Hello World!")}); err != nil {
		t.Fatal(err)
	}
	msgs, err := channel(t, s.dial(t)).Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := recv(t, msgs)
	if string(d.Body) != "Hello World!" || d.ContentType != "text/plain" {
		t.Fatalf("got %q (%s)", d.Body, d.ContentType)
	}
}

func TestTutorialWorkQueues(t *testing.T) {
	s := startServer(t, serverOptions{})
	pub := channel(t, s.dial(t))
	if _, err := pub.QueueDeclare("task_queue", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		publishConfirmed(t, pub, "", "task_queue", amqp091.Publishing{DeliveryMode: amqp091.Persistent, Body: fmt.Appendf(nil, "task %d", i)})
	}
	// Two workers, prefetch 1, manual acks: each holds one task at a time.
	got := make(chan string, 6)
	for w := range 2 {
		ch := channel(t, s.dial(t))
		if err := ch.Qos(1, 0, false); err != nil {
			t.Fatal(err)
		}
		msgs, err := ch.Consume("task_queue", fmt.Sprintf("worker-%d", w), false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for d := range msgs {
				got <- string(d.Body)
				_ = d.Ack(false)
			}
		}()
	}
	var bodies []string
	for range 6 {
		select {
		case b := <-got:
			bodies = append(bodies, b)
		case <-time.After(scaled(15 * time.Second)):
			t.Fatalf("only %d of 6 tasks done: %v", len(bodies), bodies)
		}
	}
	sort.Strings(bodies)
	if fmt.Sprint(bodies) != "[task 0 task 1 task 2 task 3 task 4 task 5]" {
		t.Fatalf("tasks done: %v", bodies)
	}
}

func TestTutorialPublishSubscribe(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if err := ch.ExchangeDeclare("logs", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	var subs []<-chan amqp091.Delivery
	for range 2 {
		c := channel(t, s.dial(t))
		q, err := c.QueueDeclare("", false, false, true, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Name) < 8 || q.Name[:8] != "amq.gen-" {
			t.Fatalf("server-named queue %q", q.Name)
		}
		if err := c.QueueBind(q.Name, "", "logs", false, nil); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Consume(q.Name, "", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, msgs)
	}
	if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "logs", "", false, false, amqp091.Publishing{Body: []byte("log line")}); err != nil {
		t.Fatal(err)
	}
	for _, msgs := range subs {
		if d := recv(t, msgs); string(d.Body) != "log line" || d.Exchange != "logs" {
			t.Fatalf("got %q from %q", d.Body, d.Exchange)
		}
	}
}

func TestTutorialRoutingAndTopics(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if err := ch.ExchangeDeclare("direct_logs", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("topic_logs", "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	c := channel(t, s.dial(t))
	qd, _ := c.QueueDeclare("", false, false, true, false, nil)
	qt, _ := c.QueueDeclare("", false, false, true, false, nil)
	for _, b := range [][3]string{{qd.Name, "error", "direct_logs"}, {qd.Name, "warning", "direct_logs"}, {qt.Name, "kern.*", "topic_logs"}, {qt.Name, "*.critical", "topic_logs"}} {
		if err := c.QueueBind(b[0], b[1], b[2], false, nil); err != nil {
			t.Fatal(err)
		}
	}
	md, err := c.Consume(qd.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := c.Consume(qt.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"direct_logs", "info"}, {"direct_logs", "error"}, {"topic_logs", "kern.critical"}, {"topic_logs", "user.info"}, {"topic_logs", "app.critical"}} {
		publishConfirmed(t, ch, p[0], p[1], amqp091.Publishing{Body: []byte(p[1])})
	}
	if d := recv(t, md); string(d.Body) != "error" || d.RoutingKey != "error" {
		t.Fatalf("direct: %q", d.Body)
	}
	if d := recv(t, mt); string(d.Body) != "kern.critical" {
		t.Fatalf("topic: %q", d.Body)
	}
	if d := recv(t, mt); string(d.Body) != "app.critical" {
		t.Fatalf("topic: %q", d.Body)
	}
	noDelivery(t, md, 200*time.Millisecond)
}

func TestTutorialRPC(t *testing.T) {
	s := startServer(t, serverOptions{})
	// The server: fib(n) answered to reply_to with the correlation id.
	srv := channel(t, s.dial(t))
	if _, err := srv.QueueDeclare("rpc_queue", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	reqs, err := srv.Consume("rpc_queue", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range reqs {
			_ = srv.PublishWithContext(testCtx(t, 5*time.Second), "", d.ReplyTo, false, false, amqp091.Publishing{
				ContentType: "text/plain", CorrelationId: d.CorrelationId, Body: []byte("reply:" + string(d.Body)),
			})
			_ = d.Ack(false)
		}
	}()
	cli := channel(t, s.dial(t))
	q, err := cli.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := cli.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.PublishWithContext(testCtx(t, 5*time.Second), "", "rpc_queue", false, false, amqp091.Publishing{
		ContentType: "text/plain", CorrelationId: "corr-42", ReplyTo: q.Name, Body: []byte("30"),
	}); err != nil {
		t.Fatal(err)
	}
	d := recv(t, replies)
	if d.CorrelationId != "corr-42" || string(d.Body) != "reply:30" {
		t.Fatalf("reply %q corr %q", d.Body, d.CorrelationId)
	}
}
