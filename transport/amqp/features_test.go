package amqp_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestPublisherConfirmsAndMandatoryReturns(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("confirmed", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp091.Return, 1))
	acks := ch.NotifyPublish(make(chan amqp091.Confirmation, 100))
	for i := range 50 {
		if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "", "confirmed", false, false, amqp091.Publishing{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Unroutable with mandatory: returned (312 NO_ROUTE), then acked.
	if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "", "no-such-queue", true, false, amqp091.Publishing{Body: []byte("lost"), MessageId: "r1"}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 51; i++ {
		select {
		case c := <-acks:
			if !c.Ack || c.DeliveryTag != i {
				t.Fatalf("confirmation %d: %+v", i, c)
			}
		case <-time.After(scaled(10 * time.Second)):
			t.Fatalf("no confirmation %d", i)
		}
	}
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || string(r.Body) != "lost" || r.MessageId != "r1" || r.RoutingKey != "no-such-queue" {
			t.Fatalf("return %+v", r)
		}
	case <-time.After(scaled(5 * time.Second)):
		t.Fatal("no basic.return")
	}
	q, err := ch.QueueDeclarePassive("confirmed", true, false, false, false, nil)
	if err != nil || q.Messages != 50 {
		t.Fatalf("passive declare: %+v, %v", q, err)
	}
}

func TestNackRejectRequeueAndGet(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("nacks", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"a", "b", "c"} {
		publishConfirmed(t, ch, "", "nacks", amqp091.Publishing{Body: []byte(b)})
	}
	msgs, err := ch.Consume("nacks", "c1", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := recv(t, msgs), recv(t, msgs), recv(t, msgs)
	if err := a.Reject(true); err != nil { // back to the queue
		t.Fatal(err)
	}
	if err := c.Nack(true, false); err != nil { // b and c, multiple, dropped
		t.Fatal(err)
	}
	_ = b
	again := recv(t, msgs)
	if string(again.Body) != "a" || !again.Redelivered {
		t.Fatalf("requeued %q redelivered=%v", again.Body, again.Redelivered)
	}
	if err := again.Ack(false); err != nil {
		t.Fatal(err)
	}
	noDelivery(t, msgs, 300*time.Millisecond)
	// basic.get: empty, then a message, acked by its channel tag.
	get := channel(t, s.dial(t))
	if _, ok, err := get.Get("nacks", false); err != nil || ok {
		t.Fatalf("get on empty queue: ok=%v err=%v", ok, err)
	}
	if err := ch.Cancel("c1", false); err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, ch, "", "nacks", amqp091.Publishing{Body: []byte("d"), Headers: amqp091.Table{"n": int32(7)}})
	var d amqp091.Delivery
	waitFor(t, 10*time.Second, func() error {
		var ok bool
		var err error
		d, ok, err = get.Get("nacks", false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return errors.New("get-empty")
		}
		return nil
	})
	if string(d.Body) != "d" || d.Headers["n"] != int64(7) {
		t.Fatalf("get: %q %v", d.Body, d.Headers)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	// An unknown delivery tag closes the channel with 406.
	closed := get.NotifyClose(make(chan *amqp091.Error, 1))
	_ = get.Ack(999, false)
	if e := <-closed; e == nil || e.Code != 406 {
		t.Fatalf("ack of unknown tag: %v", e)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(scaled(d))
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKilledConsumerConnectionRedelivers(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("work", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, ch, "", "work", amqp091.Publishing{Body: []byte("job")})
	var raw net.Conn
	conn, err := amqp091.DialConfig(s.url("guest", "guest", "/"), amqp091.Config{Dial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		raw = c
		return c, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msgs, err := channel(t, conn).Consume("work", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, msgs); d.Redelivered {
		t.Fatal("first delivery marked redelivered")
	}
	// The TCP connection dies without a close: the session ends and the
	// unacked delivery returns to the queue, marked redelivered.
	_ = raw.Close()
	other, err := channel(t, s.dial(t)).Consume("work", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := recv(t, other)
	if string(d.Body) != "job" || !d.Redelivered {
		t.Fatalf("after the kill: %q redelivered=%v", d.Body, d.Redelivered)
	}
}
