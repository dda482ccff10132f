package amqp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/transport/amqp/wire"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// delivered is one unacked delivery of the channel: a consumer's (up and
// its broker tag) or a get's (queue, broker tag, and the leader's group
// when this node proxied it).
type delivered struct {
	up       upstream
	tag      uint64
	getQueue string
	getGroup string
	isGet    bool
}

// consumer is one basic.consume of the channel.
type consumer struct {
	ch     *channel
	tag    string
	opts   broker.SubscribeOptions
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	up     upstream
	// sendMu is held from a delivery's tag to its frame written, so that
	// a basic.cancel can wait until no delivery of it is on its way.
	sendMu sync.Mutex
}

// settle kinds of basic.ack and basic.nack/reject.
const (
	settleAck = iota
	settleNack
)

// resubscribeFor bounds how long a consumer whose queue's leader moved
// tries to attach again before the client is told it was cancelled.
const resubscribeFor = 30 * time.Second

func (ch *channel) qos(m *wire.BasicQos) error {
	if m.PrefetchSize != 0 {
		return wire.Errorf(wire.NotImplemented, "prefetch_size %d: only prefetch_count is supported (as in RabbitMQ)", m.PrefetchSize)
	}
	ch.mu.Lock()
	if m.Global {
		ch.globalPrefetch = m.PrefetchCount
		ch.cond.Broadcast()
	} else {
		ch.prefetch = m.PrefetchCount
	}
	ch.mu.Unlock()
	return ch.c.send(ch.id, &wire.BasicQosOk{})
}

// consumerPriority reads basic.consume's arguments: x-priority only.
func consumerPriority(args wire.Table) (int32, error) {
	var prio int32
	for k, v := range args {
		if k != "x-priority" {
			return 0, wire.Errorf(wire.PreconditionFailed, "consumer argument '%s' is not supported by Warren (supported: x-priority)", k)
		}
		bv := brokerValue(v)
		if bv.Type != broker.ValueInt || bv.Int < math.MinInt32 || bv.Int > math.MaxInt32 {
			return 0, wire.Errorf(wire.PreconditionFailed, "consumer argument 'x-priority' must be an integer of 32 bits")
		}
		prio = int32(bv.Int)
	}
	return prio, nil
}

func (ch *channel) consume(m *wire.BasicConsume) error {
	if m.Exclusive {
		return wire.Errorf(wire.NotImplemented, "exclusive consumers are not supported by Warren (use an exclusive queue, or x-single-active-consumer)")
	}
	if m.NoLocal {
		return wire.Errorf(wire.NotImplemented, "no-local consumers are not supported (RabbitMQ does not support them either)")
	}
	queue, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.OnQueue(access.Read, queue)); err != nil {
		return err
	}
	prio, err := consumerPriority(m.Arguments)
	if err != nil {
		return err
	}
	tag := m.ConsumerTag
	if tag == "" {
		tag = randomID("amq.ctag-")
	}
	ch.mu.Lock()
	_, exists := ch.consumers[tag]
	prefetch := uint32(ch.prefetch)
	if g := uint32(ch.globalPrefetch); g > 0 && (prefetch == 0 || g < prefetch) {
		prefetch = g
	}
	ch.mu.Unlock()
	if exists {
		return wire.Errorf(wire.NotAllowed, "attempt to reuse consumer tag '%s'", tag)
	}
	if n := ch.c.consumers.Add(1); n > int64(ch.c.s.cfg.MaxConsumers) {
		ch.c.consumers.Add(-1)
		return wire.Errorf(wire.ResourceError, "the connection has %d consumers; the limit is %d (--max-consumers-per-session)", n-1, ch.c.s.cfg.MaxConsumers)
	}
	ctx, cancel := context.WithCancel(ch.ctx)
	co := &consumer{
		ch: ch, tag: tag, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		opts: broker.SubscribeOptions{
			VHost: ch.c.vhost, Queue: queue, Session: ch.c.session, Tag: brokerTag(ch.id, tag),
			Prefetch: prefetch, AutoAck: m.NoAck, Priority: prio,
		},
	}
	up, err := ch.subscribe(ctx, co.opts)
	if err != nil {
		cancel()
		ch.c.consumers.Add(-1)
		return err
	}
	co.up = up
	ch.mu.Lock()
	ch.consumers[tag] = co
	ch.mu.Unlock()
	if !m.NoWait {
		if err := ch.c.send(ch.id, &wire.BasicConsumeOk{ConsumerTag: tag}); err != nil {
			ch.mu.Lock()
			delete(ch.consumers, tag)
			ch.mu.Unlock()
			cancel()
			up.close()
			ch.c.consumers.Add(-1)
			return err
		}
	}
	go co.run()
	return nil
}

// brokerTag is the broker's consumer tag of AMQP tag on channel id:
// unique in the session across channels, within the broker's 255 bytes
// (a long tag is replaced by its digest).
func brokerTag(id uint16, tag string) string {
	t := itoa(uint64(id)) + "/" + tag
	if len(t) > 255 {
		sum := sha256.Sum256([]byte(tag))
		t = itoa(uint64(id)) + "/sha256:" + hex.EncodeToString(sum[:])
	}
	return t
}

// subscribe attaches a consumer here, or at the queue's leader. While
// the group's leadership moves (an election, the leader spread after a
// node joins) the attempt is repeated for a while, as the SDK does.
func (ch *channel) subscribe(ctx context.Context, o broker.SubscribeOptions) (upstream, error) {
	var up upstream
	err := retryLeaderMoves(ctx, func() error {
		c, err := ch.c.s.cfg.Broker.Subscribe(ctx, o)
		if group, elsewhere := broker.LeaderElsewhere(err); elsewhere {
			up, err = ch.c.subscribeRemote(ctx, group, o)
			return err
		}
		if err == nil {
			up = localUpstream{c}
		}
		return err
	})
	return up, err
}

// leaderMoveRetry bounds the retries of a call that met a moving leader.
const leaderMoveRetry = 10 * time.Second

// retryLeaderMoves runs call until it succeeds, fails for another reason
// than a leader that moved or is being elected, or leaderMoveRetry passed.
func retryLeaderMoves(ctx context.Context, call func() error) error {
	deadline := time.Now().Add(leaderMoveRetry)
	wait := 20 * time.Millisecond
	for {
		err := call()
		if err == nil || !leaderMoved(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// leaderMoved reports an error that says the group's leader is elsewhere
// or not known yet, so the call did nothing: worth trying again.
func leaderMoved(err error) bool {
	if _, ok := broker.LeaderElsewhere(err); ok {
		return true
	}
	if errors.Is(err, broker.ErrStopped) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return strings.Contains(err.Error(), "not the leader") || strings.Contains(err.Error(), "no leader")
	}
	// Only answers that say nothing was done: a retry must not take a
	// second message or publish one twice.
	return strings.Contains(st.Message(), "not the leader") || strings.Contains(st.Message(), "no leader")
}

// run delivers until the consumer is cancelled. When its stream ends for
// another reason (the queue's leader moved), it attaches again; when the
// queue is gone it tells the client (basic.cancel, RabbitMQ's consumer
// cancel notification).
func (co *consumer) run() {
	defer co.ch.c.consumers.Add(-1)
	defer close(co.done)
	ch := co.ch
	for {
		e, err := co.up.next(co.ctx)
		if err != nil {
			if co.ctx.Err() != nil {
				return
			}
			if strings.Contains(err.Error(), "consumer timeout") {
				// RabbitMQ closes the channel when a delivery stays
				// unacked past the consumer timeout; the broker already
				// returned the channel's deliveries of this consumer.
				// (In a goroutine: closing stops this consumer too.)
				go ch.closeWith(wire.Errorf(wire.PreconditionFailed, "delivery acknowledgement on channel %d timed out (%v)", ch.id, err), wire.ClassBasic, 20)
				return
			}
			if co.reattach() {
				continue
			}
			if co.ctx.Err() != nil {
				return // cancelled by the client meanwhile
			}
			co.notifyCancel()
			return
		}
		if e.State {
			continue
		}
		d := e.Delivery
		co.sendMu.Lock()
		ch.mu.Lock()
		for co.ctx.Err() == nil && (!ch.flowActive || (!co.opts.AutoAck && ch.globalPrefetch > 0 && ch.unacked >= int(ch.globalPrefetch))) {
			ch.cond.Wait()
		}
		if co.ctx.Err() != nil {
			ch.mu.Unlock()
			co.sendMu.Unlock()
			return
		}
		ch.nextTag++
		tag := ch.nextTag
		if !co.opts.AutoAck {
			ch.outstanding[tag] = &delivered{up: co.up, tag: d.Tag}
			ch.unacked++
		}
		ch.mu.Unlock()
		err = ch.c.sendContent(ch.id, &wire.BasicDeliver{
			ConsumerTag: co.tag, DeliveryTag: tag, Redelivered: d.Redelivered, Exchange: d.Exchange, RoutingKey: d.RoutingKey,
		}, amqpProperties(&d.Message), d.Message.Body)
		co.sendMu.Unlock()
		if err != nil {
			return
		}
		co.up.sent(d.Tag)
	}
}

// reattach subscribes again after the upstream ended without the client
// asking; false when the queue is gone (or it keeps failing).
func (co *consumer) reattach() bool {
	co.up.close()
	deadline := time.Now().Add(resubscribeFor)
	wait := 50 * time.Millisecond
	for time.Now().Before(deadline) && co.ctx.Err() == nil {
		up, err := co.ch.subscribe(co.ctx, co.opts)
		if err == nil {
			co.ch.mu.Lock()
			co.up = up
			co.ch.mu.Unlock()
			return true
		}
		if notFound(err) {
			return false
		}
		select {
		case <-co.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
	return false
}

func notFound(err error) bool {
	if errors.Is(err, broker.ErrNotFound) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.NotFound
}

// notifyCancel sends basic.cancel for a consumer the server ended.
func (co *consumer) notifyCancel() {
	ch := co.ch
	ch.mu.Lock()
	if ch.consumers[co.tag] == co {
		delete(ch.consumers, co.tag)
	}
	ch.mu.Unlock()
	co.up.close()
	if ch.c.cancelNotify && !ch.ended.Load() {
		_ = ch.c.send(ch.id, &wire.BasicCancel{ConsumerTag: co.tag, NoWait: true})
	}
}

// stop ends the consumer and waits for its goroutine; its unacked
// deliveries return to the queue.
func (co *consumer) stop() {
	co.cancel()
	co.ch.mu.Lock()
	co.ch.cond.Broadcast()
	up := co.up
	co.ch.mu.Unlock()
	up.closeSend()
	select {
	case <-co.done:
	case <-time.After(closeWaitTimeout):
		up.abort() // the leader did not end the stream: end it here
		<-co.done
	}
	co.ch.mu.Lock()
	up = co.up
	co.ch.mu.Unlock()
	up.close()
}

func (ch *channel) cancelConsumer(m *wire.BasicCancel) error {
	ch.mu.Lock()
	co := ch.consumers[m.ConsumerTag]
	delete(ch.consumers, m.ConsumerTag)
	ch.mu.Unlock()
	if co != nil {
		ch.cancelKeepingDeliveries(co)
	}
	if m.NoWait {
		return nil
	}
	return ch.c.send(ch.id, &wire.BasicCancelOk{ConsumerTag: m.ConsumerTag})
}

// cancelKeepingDeliveries is basic.cancel as RabbitMQ has it: no delivery
// follows, but the ones the client holds stay ackable. The broker's
// consumer stays attached (draining) until the channel has settled every
// delivery it gave, then goes; what it had taken and not delivered then
// returns to the queue.
func (ch *channel) cancelKeepingDeliveries(co *consumer) {
	co.cancel()
	ch.mu.Lock()
	ch.cond.Broadcast()
	ch.mu.Unlock()
	// Past sendMu no delivery of co is being written (its goroutine sees
	// the cancel before it takes the next tag); same order as run's.
	co.sendMu.Lock()
	ch.mu.Lock()
	held := false
	for _, d := range ch.outstanding {
		if d.up == co.up {
			held = true
			break
		}
	}
	if held {
		ch.draining[co.up] = co
	}
	ch.mu.Unlock()
	co.sendMu.Unlock()
	if !held {
		co.stop()
	}
}

// closeDrained stops the cancelled consumers whose deliveries are all
// settled now.
func (ch *channel) closeDrained() {
	ch.mu.Lock()
	if len(ch.draining) == 0 {
		ch.mu.Unlock()
		return
	}
	left := map[upstream]bool{}
	for _, d := range ch.outstanding {
		left[d.up] = true
	}
	var done []*consumer
	for up, co := range ch.draining {
		if !left[up] {
			done = append(done, co)
			delete(ch.draining, up)
		}
	}
	ch.mu.Unlock()
	for _, co := range done {
		go co.stop() // it waits a moment for the acks to commit
	}
}

// settle runs basic.ack, nack and reject. Tags are the channel's; each
// maps to the broker tag of its consumer (or get), and a multiple settles
// every outstanding delivery up to tag (all of them for 0).
func (ch *channel) settle(tag uint64, multiple bool, kind int, requeue bool) error {
	bk := broker.Ack
	if kind == settleNack {
		bk = broker.Discard
		if requeue {
			bk = broker.Return
		}
	}
	ch.mu.Lock()
	var picked []*delivered
	if multiple {
		for t, d := range ch.outstanding {
			if tag == 0 || t <= tag {
				picked = append(picked, d)
				delete(ch.outstanding, t)
			}
		}
	} else if d, ok := ch.outstanding[tag]; ok {
		picked = append(picked, d)
		delete(ch.outstanding, tag)
	} else {
		ch.mu.Unlock()
		return wire.Errorf(wire.PreconditionFailed, "unknown delivery tag %d", tag)
	}
	ch.unacked -= len(picked)
	ch.cond.Broadcast()
	ch.mu.Unlock()
	ch.settleDelivered(picked, bk)
	return nil
}

// settleDelivered settles deliveries with the broker: one multiple
// settle per consumer upstream, one settle per get. A settle refused
// because the consumer's stream already ended (the leader moved, the
// consumer was cancelled) changes nothing: the broker returned those
// deliveries, which come again.
func (ch *channel) settleDelivered(picked []*delivered, kind broker.SettleKind) {
	top := map[upstream]uint64{}
	count := map[upstream]int{}
	for _, d := range picked {
		if d.isGet {
			ch.settleGet(d, kind)
			continue
		}
		top[d.up] = max(top[d.up], d.tag)
		count[d.up]++
	}
	for up, t := range top {
		_ = up.settle(kind, t, count[up] > 1)
	}
	ch.closeDrained()
}

func (ch *channel) settleGet(d *delivered, kind broker.SettleKind) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ch.ctx), callTimeout)
	defer cancel()
	if d.getGroup == "" {
		_ = ch.c.s.cfg.Broker.SettleGet(ctx, broker.SettleGetOptions{VHost: ch.c.vhost, Queue: d.getQueue, Session: ch.c.session, Kind: kind, Tag: d.tag})
		return
	}
	client, err := ch.c.leaderClient(d.getGroup)
	if err != nil {
		return
	}
	st := &pb.Settle{DeliveryTag: d.tag, Kind: pb.SettleKind_SETTLE_KIND_ACK}
	switch kind {
	case broker.Return:
		st.Kind, st.Requeue = pb.SettleKind_SETTLE_KIND_NACK, true
	case broker.Discard:
		st.Kind = pb.SettleKind_SETTLE_KIND_NACK
	}
	_, _ = client.Settle(withVHost(ctx, ch.c.vhost), &pb.SettleRequest{SessionId: ch.c.session, Queue: d.getQueue, Settle: st})
}

// recover redelivers every unacked delivery of the channel (requeue).
func (ch *channel) recover(requeue bool) error {
	if !requeue {
		return wire.Errorf(wire.NotImplemented, "basic.recover with requeue=false (redelivery to the same consumer) is not supported; use requeue=true")
	}
	return ch.settle(0, true, settleNack, true)
}

// takeGets removes and returns the channel's unacked gets (ch.mu held).
func (ch *channel) takeGets() []*delivered {
	var gets []*delivered
	for t, d := range ch.outstanding {
		if d.isGet {
			gets = append(gets, d)
			delete(ch.outstanding, t)
		}
	}
	return gets
}

// returnGets returns unacked gets to their queues when the channel closes.
func (ch *channel) returnGets(gets []*delivered) {
	for _, d := range gets {
		ch.settleGet(d, broker.Return)
	}
}

func (ch *channel) get(m *wire.BasicGet) error {
	queue, err := ch.queueName(m.Queue)
	if err != nil {
		return err
	}
	if err := ch.authorize(access.OnQueue(access.Read, queue)); err != nil {
		return err
	}
	ctx, cancel := ch.callCtx()
	defer cancel()
	b := ch.c.s.cfg.Broker
	var d *broker.Delivery
	var left uint64
	group := ""
	err = retryLeaderMoves(ctx, func() error {
		var err error
		group = ""
		d, left, err = b.Get(ctx, broker.GetOptions{VHost: ch.c.vhost, Queue: queue, Session: ch.c.session, AutoAck: m.NoAck})
		if g, elsewhere := broker.LeaderElsewhere(err); elsewhere {
			group = g
			d, left, err = ch.getRemote(ctx, group, queue, m.NoAck)
		}
		return err
	})
	if err != nil {
		return err
	}
	if d == nil {
		return ch.c.send(ch.id, &wire.BasicGetEmpty{})
	}
	ch.mu.Lock()
	ch.nextTag++
	tag := ch.nextTag
	if !m.NoAck {
		ch.outstanding[tag] = &delivered{isGet: true, tag: d.Tag, getQueue: queue, getGroup: group}
		ch.unacked++
	}
	ch.mu.Unlock()
	return ch.c.sendContent(ch.id, &wire.BasicGetOk{
		DeliveryTag: tag, Redelivered: d.Redelivered, Exchange: d.Exchange, RoutingKey: d.RoutingKey, MessageCount: uint32(min(left, 1<<32-1)),
	}, amqpProperties(&d.Message), d.Message.Body)
}

func (ch *channel) getRemote(ctx context.Context, group, queue string, noAck bool) (*broker.Delivery, uint64, error) {
	client, err := ch.c.leaderClient(group)
	if err != nil {
		return nil, 0, err
	}
	resp, err := client.Get(withVHost(ctx, ch.c.vhost), &pb.GetRequest{
		Queue: queue, AutoAck: noAck, SessionId: ch.c.session, MinMetaIndex: ch.c.s.cfg.Broker.MetaIndex(),
	})
	if err != nil {
		return nil, 0, err
	}
	if resp.GetDelivery() == nil {
		return nil, resp.GetMessageCount(), nil
	}
	d := brokerDelivery(resp.GetDelivery())
	return &d, resp.GetMessageCount(), nil
}
