package amqp_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp"
	"github.com/warrenmq/warren/transport/transporttest"
)

// Every node of a cluster serves AMQP: declarations and publishes are
// forwarded, consumers and gets on a follower of the queue's group are
// served by its leader, and acks reach it.
func TestClusterEveryNodeServesAMQP(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster")
	}
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	var servers []*testServer
	for _, n := range nodes {
		servers = append(servers, serveOn(t, n, amqp.Config{Broker: n.Broker}))
	}
	ch0 := channel(t, servers[0].dial(t))
	if _, err := ch0.QueueDeclare("spread", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch0.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		pub := channel(t, s.dial(t))
		if err := pub.Confirm(false); err != nil {
			t.Fatal(err)
		}
		publishConfirmed(t, pub, "", "spread", amqp091.Publishing{Body: fmt.Appendf(nil, "via node %d", i)})
	}
	// A consumer on each node, manual acks: three messages, each acked.
	got := map[string]bool{}
	for i, s := range servers {
		ch := channel(t, s.dial(t))
		if err := ch.Qos(1, 0, false); err != nil {
			t.Fatal(err)
		}
		msgs, err := ch.Consume("spread", fmt.Sprintf("c%d", i), false, false, false, false, nil)
		if err != nil {
			t.Fatalf("consume on node %d: %v", i, err)
		}
		d := recv(t, msgs)
		got[string(d.Body)] = true
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		if err := ch.Cancel(fmt.Sprintf("c%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("consumed %v", got)
	}
	// basic.get through every node, acked; then the queue is empty.
	for i, s := range servers {
		publishConfirmed(t, ch0, "", "spread", amqp091.Publishing{Body: fmt.Appendf(nil, "get %d", i)})
		ch := channel(t, s.dial(t))
		var d amqp091.Delivery
		waitFor(t, 10*time.Second, func() error {
			var ok bool
			var err error
			if d, ok, err = ch.Get("spread", false); err != nil {
				t.Fatalf("get on node %d: %v", i, err)
			}
			if !ok {
				return fmt.Errorf("get-empty on node %d", i)
			}
			return nil
		})
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		q, err := ch0.QueueDeclarePassive("spread", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != 0 {
			return fmt.Errorf("%d messages left", q.Messages)
		}
		return nil
	})
	// Purge and delete through every node.
	publishConfirmed(t, ch0, "", "spread", amqp091.Publishing{Body: []byte("to purge")})
	for _, s := range servers {
		if _, err := channel(t, s.dial(t)).QueuePurge("spread", false); err != nil {
			t.Fatalf("purge: %v", err)
		}
	}
	if _, err := channel(t, servers[2].dial(t)).QueueDelete("spread", false, false, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	var e *amqp091.Error
	waitFor(t, 10*time.Second, func() error {
		_, err := channel(t, servers[1].dial(t)).QueueDeclarePassive("spread", true, false, false, false, nil)
		if !errors.As(err, &e) || e.Code != 404 {
			return fmt.Errorf("passive declare after delete: %v", err)
		}
		return nil
	})
}

// A consumer connected to a follower dies with its TCP connection: the
// stream this node proxied to the queue's leader ends, and the unacked
// delivery is redelivered to another consumer.
func TestClusterFollowerConsumerConnectionKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster")
	}
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	var servers []*testServer
	for _, n := range nodes {
		servers = append(servers, serveOn(t, n, amqp.Config{Broker: n.Broker}))
	}
	ch := channel(t, servers[0].dial(t))
	if _, err := ch.QueueDeclare("fragile", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := nodes[0].Broker.Queue("/", "fragile")
	if err != nil {
		t.Fatal(err)
	}
	// A node that does not lead the queue's group, as far as its own
	// replica knows: the consume there is proxied.
	var follower *testServer
	waitFor(t, 10*time.Second, func() error {
		for i, n := range nodes {
			if _, _, err := n.Broker.Get(testCtx(t, 5*time.Second), broker.GetOptions{VHost: "/", Queue: "fragile", Session: "probe", AutoAck: true}); err != nil {
				if _, elsewhere := broker.LeaderElsewhere(err); elsewhere {
					follower = servers[i]
					return nil
				}
			}
		}
		return fmt.Errorf("no follower of group %d found", q.Group)
	})
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	// The new cluster may still be moving leaderships to spread them: a
	// publish that meets a move is nacked, and a client publishes again
	// (a nacked message may have been enqueued too: a copy may come twice).
	waitFor(t, 30*time.Second, func() error {
		dc, err := ch.PublishWithDeferredConfirmWithContext(testCtx(t, 10*time.Second), "", "fragile", false, false, amqp091.Publishing{Body: []byte("keep me")})
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if ok, err := dc.WaitContext(testCtx(t, 10*time.Second)); err != nil || !ok {
			return fmt.Errorf("publish: acked=%v err=%v", ok, err)
		}
		return nil
	})
	var raw net.Conn
	conn, err := amqp091.DialConfig(follower.url("guest", "guest", "/"), amqp091.Config{Dial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		raw = c
		return c, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msgs, err := channel(t, conn).Consume("fragile", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := recv(t, msgs); string(d.Body) != "keep me" {
		t.Fatalf("got %q", d.Body)
	}
	_ = raw.Close()
	again, err := channel(t, servers[0].dial(t)).Consume("fragile", "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The killed consumer's delivery comes back marked redelivered (after
	// any copy of a republished message, which is not).
	for {
		d := recv(t, again)
		if string(d.Body) != "keep me" {
			t.Fatalf("after the kill: got %q", d.Body)
		}
		if d.Redelivered {
			return
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
}
