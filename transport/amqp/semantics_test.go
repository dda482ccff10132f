package amqp_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/transport/amqp/wire"
)

func TestChannelErrorsAsRabbitMQ(t *testing.T) {
	s := startServer(t, serverOptions{})
	owner := channel(t, s.dial(t))
	if _, err := owner.QueueDeclare("mine-alone", false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	other := s.dial(t)
	var e *amqp091.Error
	// Another connection's exclusive queue: 405 RESOURCE_LOCKED.
	_, err := channel(t, other).QueueDeclare("mine-alone", false, false, true, false, nil)
	if !errors.As(err, &e) || e.Code != 405 {
		t.Fatalf("declare of another connection's exclusive queue: %v, want 405", err)
	}
	_, err = channel(t, other).QueueDeclarePassive("mine-alone", false, false, true, false, nil)
	if !errors.As(err, &e) || e.Code != 405 {
		t.Fatalf("passive declare of another connection's exclusive queue: %v, want 405", err)
	}
	if _, err := owner.QueueDeclarePassive("mine-alone", false, false, true, false, nil); err != nil {
		t.Fatalf("passive declare by the owner: %v", err)
	}
	_, err = channel(t, other).Consume("mine-alone", "", false, false, false, false, nil)
	if !errors.As(err, &e) || e.Code != 405 {
		t.Fatalf("consume from another connection's exclusive queue: %v, want 405", err)
	}
	// A publish to a missing exchange: the channel closes with 404.
	ch := channel(t, other)
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))
	_ = ch.PublishWithContext(testCtx(t, 5*time.Second), "no-such-exchange", "k", false, false, amqp091.Publishing{Body: []byte("x")})
	if e := <-closed; e == nil || e.Code != 404 {
		t.Fatalf("publish to a missing exchange: %v, want 404", e)
	}
	// Re-declaring an exchange as another kind: 406.
	ch = channel(t, other)
	if err := ch.ExchangeDeclare("kinds", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	err = ch.ExchangeDeclare("kinds", "fanout", true, false, false, false, nil)
	if !errors.As(err, &e) || e.Code != 406 {
		t.Fatalf("inequivalent exchange re-declare: %v, want 406", err)
	}
	// A publish straight to an internal exchange: 403.
	ch = channel(t, other)
	if err := ch.ExchangeDeclare("inside", "fanout", true, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	closed = ch.NotifyClose(make(chan *amqp091.Error, 1))
	_ = ch.PublishWithContext(testCtx(t, 5*time.Second), "inside", "", false, false, amqp091.Publishing{Body: []byte("x")})
	if e := <-closed; e == nil || e.Code != 403 {
		t.Fatalf("publish to an internal exchange: %v, want 403", e)
	}
}

func TestExchangeBindingsAndRecover(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if err := ch.ExchangeDeclare("upstream", "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare("downstream", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeBind("downstream", "a.#", "upstream", false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "", "downstream", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, ch, "upstream", "a.b", amqp091.Publishing{Body: []byte("through two exchanges")})
	publishConfirmed(t, ch, "upstream", "b.a", amqp091.Publishing{Body: []byte("not routed")})
	msgs, err := ch.Consume(q.Name, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, msgs); string(d.Body) != "through two exchanges" {
		t.Fatalf("got %q", d.Body)
	}
	// basic.recover(requeue): the unacked delivery comes again, redelivered.
	//lint:ignore SA1019 basic.recover is the method under test (still sent by older clients)
	if err := ch.Recover(true); err != nil {
		t.Fatal(err)
	}
	if d := recv(t, msgs); string(d.Body) != "through two exchanges" || !d.Redelivered {
		t.Fatalf("after recover: %q redelivered=%v", d.Body, d.Redelivered)
	}
	noDelivery(t, msgs, 200*time.Millisecond)
	if err := ch.ExchangeUnbind("downstream", "a.#", "upstream", false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestServerSendsHeartbeats(t *testing.T) {
	s := startServer(t, serverOptions{})
	c := dialRaw(t, s.addr)
	c.open(1)
	// The client stays quiet except for its own heartbeats; the server's
	// come at least every half interval.
	deadline := time.Now().Add(scaled(5 * time.Second))
	got := 0
	for got < 2 && time.Now().Before(deadline) {
		c.write(wire.AppendFrame(nil, wire.FrameHeartbeat, 0, nil))
		_ = c.nc.SetReadDeadline(time.Now().Add(scaled(2 * time.Second)))
		f, err := wire.ReadFrame(c.r, 1<<20)
		if err != nil {
			t.Fatalf("after %d heartbeats: %v", got, err)
		}
		if f.Type == wire.FrameHeartbeat {
			got++
		}
	}
	if got < 2 {
		t.Fatalf("%d server heartbeats within 5 s at a 1 s interval", got)
	}
}

func TestFlowPriorityAndLongConsumerTags(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("flowing", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	cons := channel(t, s.dial(t))
	long := string(make([]byte, 0, 255))
	for len(long) < 255 {
		long += "t"
	}
	msgs, err := cons.Consume("flowing", long, false, false, false, false, amqp091.Table{"x-priority": int32(5)})
	if err != nil {
		t.Fatalf("consume with a 255-byte tag and x-priority: %v", err)
	}
	// channel.flow(false): no deliveries until flow resumes.
	if err := cons.Flow(false); err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, ch, "", "flowing", amqp091.Publishing{Body: []byte("held")})
	noDelivery(t, msgs, 300*time.Millisecond)
	if err := cons.Flow(true); err != nil {
		t.Fatal(err)
	}
	if d := recv(t, msgs); string(d.Body) != "held" || d.ConsumerTag != long {
		t.Fatalf("got %q for %d-byte tag", d.Body, len(d.ConsumerTag))
	}
	// An unknown consumer argument is refused, naming it.
	_, err = channel(t, s.dial(t)).Consume("flowing", "", false, false, false, false, amqp091.Table{"x-what": int32(1)})
	var e *amqp091.Error
	if !errors.As(err, &e) || e.Code != 406 || !strings.Contains(e.Reason, "x-what") {
		t.Fatalf("unknown consumer argument: %v", err)
	}
}

// A publisher without confirms that publishes and closes at once (the
// hello-world sender) loses nothing: what came before connection.close
// is published before the connection ends.
func TestPublishThenCloseKeepsTheMessages(t *testing.T) {
	s := startServer(t, serverOptions{})
	setup := channel(t, s.dial(t))
	if _, err := setup.QueueDeclare("fire-and-forget", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := amqp091.Dial(s.url("guest", "guest", "/"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "", "fire-and-forget", false, false, amqp091.Publishing{Body: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := setup.QueueDeclarePassive("fire-and-forget", true, false, false, false, nil)
	if err != nil || q.Messages != 50 {
		t.Fatalf("after publish and close: %+v, %v; want 50 messages", q, err)
	}
}

// A delivery unacked past the queue's x-consumer-timeout closes the
// channel with 406, as RabbitMQ's delivery acknowledgement timeout, and
// the message goes back to the queue.
func TestConsumerTimeoutClosesTheChannel(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("slow-worker", true, false, false, false, amqp091.Table{"x-consumer-timeout": int32(1000)}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	publishConfirmed(t, ch, "", "slow-worker", amqp091.Publishing{Body: []byte("slow")})
	cons := channel(t, s.dial(t))
	closed := cons.NotifyClose(make(chan *amqp091.Error, 1))
	msgs, err := cons.Consume("slow-worker", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, msgs) // and never acked
	select {
	case e := <-closed:
		if e == nil || e.Code != 406 || !strings.Contains(e.Reason, "timed out") {
			t.Fatalf("channel closed with %v, want 406 timed out", e)
		}
	case <-time.After(scaled(20 * time.Second)):
		t.Fatal("the channel stayed open past the consumer timeout")
	}
	again, err := channel(t, s.dial(t)).Consume("slow-worker", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, again); string(d.Body) != "slow" || !d.Redelivered {
		t.Fatalf("after the timeout: %q redelivered=%v", d.Body, d.Redelivered)
	}
}

// A publish buffer far smaller than what is in flight only slows the
// publisher: every message arrives, on several channels at once.
func TestSmallPublishBufferBackPressure(t *testing.T) {
	s := startServer(t, serverOptions{pubBuffer: 4096})
	conn := s.dial(t)
	setup := channel(t, conn)
	if _, err := setup.QueueDeclare("squeezed", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		ch := channel(t, conn)
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		go func() {
			var last *amqp091.DeferredConfirmation
			for range 50 {
				dc, err := ch.PublishWithDeferredConfirmWithContext(testCtx(t, 10*time.Second), "", "squeezed", false, false, amqp091.Publishing{Body: make([]byte, 1500)})
				if err != nil {
					errs <- err
					return
				}
				last = dc
			}
			ok, err := last.WaitContext(testCtx(t, 20*time.Second))
			if err == nil && !ok {
				err = errors.New("nacked")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		q, err := setup.QueueDeclarePassive("squeezed", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 200 {
			return fmt.Errorf("%d of 200 messages", q.Messages)
		}
		return nil
	})
}

// After basic.cancel the deliveries the client holds stay ackable, as in
// RabbitMQ (Celery's warm shutdown cancels, finishes its tasks, then
// acks them): an ack after the cancel settles the message for good.
func TestAckAfterCancel(t *testing.T) {
	s := startServer(t, serverOptions{})
	ch := channel(t, s.dial(t))
	if _, err := ch.QueueDeclare("finish-then-ack", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"a", "b", "c"} {
		publishConfirmed(t, ch, "", "finish-then-ack", amqp091.Publishing{Body: []byte(b)})
	}
	cons := channel(t, s.dial(t))
	if err := cons.Qos(2, 0, false); err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Consume("finish-then-ack", "worker", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := recv(t, msgs), recv(t, msgs)
	if err := cons.Cancel("worker", false); err != nil {
		t.Fatal(err)
	}
	if err := first.Ack(false); err != nil {
		t.Fatal(err)
	}
	if err := second.Ack(false); err != nil {
		t.Fatal(err)
	}
	// Only the third message is left, never delivered, not redelivered.
	var d amqp091.Delivery
	get := channel(t, s.dial(t))
	waitFor(t, 10*time.Second, func() error {
		var ok bool
		if d, ok, err = get.Get("finish-then-ack", true); err != nil {
			t.Fatal(err)
		} else if !ok {
			return errors.New("get-empty")
		}
		return nil
	})
	if string(d.Body) != "c" {
		t.Fatalf("left in the queue: %q, want c", d.Body)
	}
	waitFor(t, 10*time.Second, func() error {
		q, err := get.QueueDeclarePassive("finish-then-ack", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 0 || q.Consumers != 0 {
			return fmt.Errorf("%d messages, %d consumers left", q.Messages, q.Consumers)
		}
		return nil
	})
}

// An operator closes the connection's session (the management API's
// DELETE /api/connections/{session}): the client gets connection.close
// 320 CONNECTION_FORCED, as from RabbitMQ's management UI, and its unacked
// delivery comes back, redelivered, to another consumer.
func TestOperatorClosesTheConnection(t *testing.T) {
	s := startServer(t, serverOptions{})
	conn := s.dial(t)
	ch := channel(t, conn)
	if _, err := ch.QueueDeclare("closed-by-operator", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(testCtx(t, 5*time.Second), "", "closed-by-operator", false, false, amqp091.Publishing{Body: []byte("held")}); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("closed-by-operator", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, deliveries); d.Redelivered {
		t.Fatal("first delivery marked redelivered")
	}
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	sessions, _ := s.node.Broker.LocalSessions("", 10)
	if len(sessions) != 1 {
		t.Fatalf("sessions %+v, want the connection's one", sessions)
	}
	if n := s.node.Broker.CloseSession(sessions[0].ID); n != 1 {
		t.Fatalf("CloseSession ended %d streams, want the connection", n)
	}
	select {
	case e := <-closed:
		if e == nil || e.Code != amqp091.ConnectionForced {
			t.Fatalf("connection closed with %v, want 320 CONNECTION_FORCED", e)
		}
	case <-time.After(scaled(10 * time.Second)):
		t.Fatal("the connection outlived its session's close")
	}
	other := channel(t, s.dial(t))
	again, err := other.Consume("closed-by-operator", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, again); string(d.Body) != "held" || !d.Redelivered {
		t.Fatalf("got %q redelivered=%v, want the held message redelivered", d.Body, d.Redelivered)
	}
}
