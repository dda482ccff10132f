package e2e_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// startAMQPCluster starts three warren-node processes, each with its
// AMQP port on a port picked here, and returns them with those addresses.
func startAMQPCluster(t *testing.T) ([]*nodeProc, map[*nodeProc]string) {
	t.Helper()
	procs := make([]*nodeProc, 3)
	addrs := map[*nodeProc]string{}
	var join []string
	for i := range procs {
		procs[i] = newClusterProc(t, "n"+strconv.Itoa(i+1))
		join = append(join, procs[i].gossipAddr)
	}
	for i, p := range procs {
		addrs[p] = freeAddr(t)
		p.extra = []string{
			"--bootstrap-expect", "3", "--join", strings.Join(join, ","), "--zone", string(rune('a' + i)),
			"--amqp-addr", addrs[p],
		}
	}
	launchCluster(t, procs)
	return procs, addrs
}

// amqpDialAny connects to the first of addrs that answers, as a client
// given several hosts does.
func amqpDialAny(addrs []string) (*amqp091.Connection, error) {
	var last error
	for _, a := range addrs {
		c, err := amqp091.DialConfig("amqp://guest:guest@"+a+"/", amqp091.Config{Heartbeat: 2 * time.Second})
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// A 3-node cluster of real processes serves AMQP on every node: a
// consumer on a follower of the queue's group, a publisher with confirms
// on the leader, which is killed mid-run; the publisher reconnects to the
// other nodes and publishes again what was not confirmed. Every confirmed
// message is delivered: 0 lost.
func TestAMQPClusterLeaderKilledNoConfirmedLoss(t *testing.T) {
	slow(t)
	procs, addrs := startAMQPCluster(t)
	admin := newClient(t, procs[0].grpcAddr)
	conn, err := amqpDialAny([]string{addrs[procs[0]]})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("amqp-jobs", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	waitProcLeadersSpread(t, admin, procs)
	leader := procQueueLeader(t, procs, procs[0], "amqp-jobs")
	var followers []*nodeProc
	for _, p := range procs {
		if p != leader {
			followers = append(followers, p)
		}
	}

	// The consumer, on a follower, acks everything it gets.
	var mu sync.Mutex
	received := map[string]bool{}
	cconn, err := amqpDialAny([]string{addrs[followers[0]]})
	if err != nil {
		t.Fatal(err)
	}
	defer cconn.Close()
	cch, err := cconn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := cch.Qos(50, 0, false); err != nil {
		t.Fatal(err)
	}
	msgs, err := cch.Consume("amqp-jobs", "follower-consumer", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range msgs {
			mu.Lock()
			received[string(d.Body)] = true
			mu.Unlock()
			_ = d.Ack(false)
		}
	}()

	// The publisher starts on the leader, with every node's address.
	const total = 300
	order := []string{addrs[leader], addrs[followers[0]], addrs[followers[1]]}
	confirmed := map[string]bool{}
	var pconn *amqp091.Connection
	var pch *amqp091.Channel
	connect := func() error {
		if pconn != nil {
			_ = pconn.Close()
		}
		var err error
		if pconn, err = amqpDialAny(order); err != nil {
			return err
		}
		if pch, err = pconn.Channel(); err != nil {
			return err
		}
		return pch.Confirm(false)
	}
	deadline := time.Now().Add(scaled(120 * time.Second))
	killed := false
	for i := 0; i < total; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d published within the deadline", i, total)
		}
		if i == total/3 && !killed {
			leader.kill()
			killed = true
			order = order[1:] // its address now refuses
		}
		if pch == nil || pch.IsClosed() {
			if err := connect(); err != nil {
				time.Sleep(100 * time.Millisecond) // the cluster elects; bounded by deadline
				continue
			}
		}
		body := "job-" + strconv.Itoa(i)
		ctx := testCtx(t, 10*time.Second)
		dc, err := pch.PublishWithDeferredConfirmWithContext(ctx, "", "amqp-jobs", false, false, amqp091.Publishing{Body: []byte(body)})
		if err != nil {
			pch = nil
			continue
		}
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			pch = nil // nacked or the connection went: publish it again
			continue
		}
		confirmed[body] = true
		i++
	}
	if pconn != nil {
		_ = pconn.Close()
	}
	eventually(t, 90*time.Second, "every confirmed message consumed", func() error {
		mu.Lock()
		defer mu.Unlock()
		var missing []string
		for b := range confirmed {
			if !received[b] {
				missing = append(missing, b)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d confirmed not consumed yet, e.g. %v", len(missing), len(confirmed), missing[:min(5, len(missing))])
		}
		return nil
	})
}
