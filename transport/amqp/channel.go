package amqp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmq/warren/transport/amqp/wire"
)

// commandQueue bounds the methods read for a channel and not yet handled:
// past it the connection's reader waits, which is TCP back-pressure on a
// client that publishes faster than the broker commits.
const commandQueue = 256

// command is one method for a channel's worker, with its content.
type command struct {
	m     wire.Method
	props *wire.Properties
	body  []byte
	// finish ends the worker once everything queued before it ran (the
	// client's connection.close: publishes sent before it still count).
	finish bool
}

// channel is one AMQP channel. The connection's reader assembles its
// methods with their content and hands them, in order, to the channel's
// worker goroutine, which runs them against the broker; consumers deliver
// from goroutines of their own.
type channel struct {
	c      *conn
	id     uint16
	cmds   chan command
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	ended  atomic.Bool
	once   sync.Once

	// content being assembled by the reader.
	pending     *wire.BasicPublish
	pendingHdr  *wire.ContentHeader
	pendingBody []byte
	// reserved is the publish buffer the content being assembled holds:
	// set by the reader, taken (Swap 0) either by the reader when the
	// content is complete or by cleanup when the channel ends first.
	reserved atomic.Int64

	// publishing, owned by the worker.
	confirm    bool
	publishSeq uint64
	publisher  string
	dedupSeq   uint64

	mu   sync.Mutex
	cond *sync.Cond
	// nextTag numbers deliveries (consumers' and gets') on this channel.
	nextTag     uint64
	outstanding map[uint64]*delivered
	consumers   map[string]*consumer
	// draining are consumers the client cancelled whose deliveries it
	// still holds (cancelKeepingDeliveries), by their upstream.
	draining   map[upstream]*consumer
	flowActive bool
	lastQueue  string
	// prefetch is basic.qos's per-consumer count for consumers that come
	// next; globalPrefetch (qos with global) bounds the channel's unacked
	// deliveries, counted in unacked.
	prefetch       uint16
	globalPrefetch uint16
	unacked        int
}

func newChannel(c *conn, id uint16) *channel {
	ctx, cancel := context.WithCancel(c.ctx)
	ch := &channel{
		c: c, id: id, cmds: make(chan command, commandQueue), done: make(chan struct{}), ctx: ctx, cancel: cancel,
		outstanding: map[uint64]*delivered{}, consumers: map[string]*consumer{}, draining: map[upstream]*consumer{}, flowActive: true,
		publisher: c.session + "/" + itoa(uint64(id)),
	}
	ch.cond = sync.NewCond(&ch.mu)
	return ch
}

// frame handles a frame of this channel, in the reader's goroutine.
func (ch *channel) frame(f wire.Frame) error {
	if ch.ended.Load() {
		return nil
	}
	switch f.Type {
	case wire.FrameHeader:
		if ch.pending == nil || ch.pendingHdr != nil {
			return wire.Errorf(wire.UnexpectedFrame, "content header on channel %d without a basic.publish before it", ch.id)
		}
		h, err := wire.DecodeContentHeader(f.Payload)
		if err != nil {
			return err
		}
		if h.Class != wire.ClassBasic {
			return wire.Errorf(wire.UnexpectedFrame, "content header of class %d; basic.publish needs class 60", h.Class)
		}
		if h.BodySize > uint64(ch.c.s.cfg.MaxMessageBytes) {
			// Refuse before reading the body: its frames are dropped
			// while the channel closes.
			ch.pending = nil
			ch.closeWith(wire.Errorf(wire.PreconditionFailed, "message size %d is larger than the configured max size %d", h.BodySize, ch.c.s.cfg.MaxMessageBytes), wire.ClassBasic, 40)
			return nil
		}
		if err := ch.c.reserve(int(h.BodySize)); err != nil {
			return err
		}
		ch.reserved.Store(int64(h.BodySize))
		ch.pendingHdr = &h
		ch.pendingBody = make([]byte, 0, h.BodySize)
		if h.BodySize == 0 {
			return ch.publishComplete()
		}
		return nil
	case wire.FrameBody:
		if ch.pendingHdr == nil {
			return wire.Errorf(wire.UnexpectedFrame, "content body on channel %d without a content header before it", ch.id)
		}
		if uint64(len(ch.pendingBody))+uint64(len(f.Payload)) > ch.pendingHdr.BodySize {
			return wire.Errorf(wire.FrameError, "content body longer than the %d bytes its header announced", ch.pendingHdr.BodySize)
		}
		ch.pendingBody = append(ch.pendingBody, f.Payload...)
		if uint64(len(ch.pendingBody)) == ch.pendingHdr.BodySize {
			return ch.publishComplete()
		}
		return nil
	case wire.FrameMethod:
	default:
		return wire.Errorf(wire.UnexpectedFrame, "frame type %d on channel %d", f.Type, ch.id)
	}
	if ch.pending != nil {
		return wire.Errorf(wire.UnexpectedFrame, "method frame on channel %d while the content of a basic.publish was expected", ch.id)
	}
	m, err := wire.DecodeMethod(f.Payload)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *wire.BasicPublish:
		ch.pending = m
		return nil
	case *wire.ChannelOpen:
		return wire.Errorf(wire.ChannelError, "channel %d is already open", ch.id)
	}
	if wire.HasContent(m) {
		return wire.Errorf(wire.CommandInvalid, "%s is sent by the server, not the client", m.Name())
	}
	ch.enqueue(command{m: m})
	return nil
}

func (ch *channel) publishComplete() error {
	cmd := command{m: ch.pending, props: &ch.pendingHdr.Properties, body: ch.pendingBody}
	ch.pending, ch.pendingHdr, ch.pendingBody = nil, nil, nil
	if ch.reserved.Swap(0) == 0 && len(cmd.body) > 0 {
		return nil // the channel ended meanwhile and returned the room
	}
	if !ch.enqueue(cmd) {
		ch.c.release(len(cmd.body))
	}
	return nil
}

func (ch *channel) enqueue(cmd command) bool {
	select {
	case <-ch.done:
		return false
	default:
	}
	select {
	case ch.cmds <- cmd:
		select {
		case <-ch.done:
			// The worker ended meanwhile: nobody will take what is queued.
			ch.drain()
		default:
		}
		return true
	case <-ch.done:
		return false
	}
}

// drain empties the queue of an ended channel, returning the publish
// buffer its messages held.
func (ch *channel) drain() {
	for {
		select {
		case c := <-ch.cmds:
			ch.c.release(len(c.body))
		default:
			return
		}
	}
}

// run is the channel's worker: methods in order, consecutive publishes
// in one broker call.
func (ch *channel) run() {
	defer func() {
		close(ch.done)
		ch.drain()
	}()
	var next *command
	for {
		var cmd command
		if next != nil {
			cmd, next = *next, nil
		} else {
			select {
			case cmd = <-ch.cmds:
			case <-ch.ctx.Done():
				return
			}
		}
		if _, ok := cmd.m.(*wire.BasicPublish); ok {
			batch := []command{cmd}
		more:
			for len(batch) < maxPublishBatch {
				select {
				case c := <-ch.cmds:
					if _, ok := c.m.(*wire.BasicPublish); ok {
						batch = append(batch, c)
						continue
					}
					next = &c
					break more
				default:
					break more
				}
			}
			err := ch.publish(batch)
			for _, c := range batch {
				ch.c.release(len(c.body))
			}
			if err != nil {
				ch.fail(err, cmd.m)
				return
			}
			continue
		}
		if cmd.finish {
			return
		}
		stop, err := ch.handle(cmd.m)
		if err != nil {
			ch.fail(err, cmd.m)
			return
		}
		if stop {
			return
		}
	}
}

// fail closes the channel, or the connection, for err raised by m.
func (ch *channel) fail(err error, m wire.Method) {
	class, method := m.ID()
	we := toWireError(err)
	if wire.ConnectionLevel(we.Code) {
		ch.cleanup()
		ch.c.closeConnection(we.Code, we.Text, class, method)
		return
	}
	ch.closeWith(we, class, method)
}

// closeWith is the server's channel.close: the channel's consumers go,
// and its frames are dropped until the client's close-ok.
func (ch *channel) closeWith(we *wire.Error, class, method uint16) {
	if !ch.ended.CompareAndSwap(false, true) {
		return
	}
	ch.c.chmu.Lock()
	delete(ch.c.channels, ch.id)
	ch.c.closingChannels[ch.id] = true
	ch.c.chmu.Unlock()
	ch.cancel()
	ch.cleanup()
	_ = ch.c.send(ch.id, &wire.ChannelClose{ReplyCode: we.Code, ReplyText: replyText(we.Code, we.Text), ClassID: class, MethodID: method})
}

// closeByClient answers the client's channel.close.
func (ch *channel) closeByClient() {
	ch.ended.Store(true)
	ch.cleanup()
	ch.c.chmu.Lock()
	delete(ch.c.channels, ch.id)
	ch.c.chmu.Unlock()
	_ = ch.c.send(ch.id, &wire.ChannelCloseOk{})
	ch.cancel()
}

// finish lets the worker run what the client sent before its
// connection.close, waiting at most wait.
func (ch *channel) finish(wait time.Duration) {
	if ch.ended.Load() {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch.cmds <- command{finish: true}:
	case <-ch.done:
		return
	case <-t.C:
		return
	}
	select {
	case <-ch.done:
	case <-t.C:
	}
}

// stop ends the channel with its connection.
func (ch *channel) stop() {
	ch.ended.Store(true)
	ch.cancel()
	<-ch.done
	ch.cleanup()
}

// cleanup closes the channel's consumers (their unacked deliveries
// return to their queues) and returns its unacked gets.
func (ch *channel) cleanup() {
	ch.once.Do(func() {
		ch.c.release(int(ch.reserved.Swap(0)))
		ch.mu.Lock()
		cons := make([]*consumer, 0, len(ch.consumers)+len(ch.draining))
		for _, c := range ch.consumers {
			cons = append(cons, c)
		}
		for _, c := range ch.draining {
			cons = append(cons, c)
		}
		ch.consumers = map[string]*consumer{}
		ch.draining = map[upstream]*consumer{}
		gets := ch.takeGets()
		ch.cond.Broadcast()
		ch.mu.Unlock()
		// Concurrently: each waits a moment for its acks to commit.
		var wg sync.WaitGroup
		for _, c := range cons {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.stop()
			}()
		}
		wg.Wait()
		ch.returnGets(gets)
	})
}

// handle runs one method (not basic.publish); stop says the channel ended.
func (ch *channel) handle(m wire.Method) (stop bool, err error) {
	switch m := m.(type) {
	case *wire.ChannelClose:
		ch.closeByClient()
		return true, nil
	case *wire.ChannelCloseOk:
		return false, nil // a late answer; nothing to do
	case *wire.ChannelFlow:
		ch.mu.Lock()
		ch.flowActive = m.Active
		ch.cond.Broadcast()
		ch.mu.Unlock()
		return false, ch.c.send(ch.id, &wire.ChannelFlowOk{Active: m.Active})
	case *wire.ChannelFlowOk:
		return false, nil
	case *wire.ExchangeDeclare:
		return false, ch.exchangeDeclare(m)
	case *wire.ExchangeDelete:
		return false, ch.exchangeDelete(m)
	case *wire.ExchangeBind:
		return false, ch.exchangeBind(m.Source, m.Destination, m.RoutingKey, m.Arguments, m.NoWait, true)
	case *wire.ExchangeUnbind:
		return false, ch.exchangeBind(m.Source, m.Destination, m.RoutingKey, m.Arguments, m.NoWait, false)
	case *wire.QueueDeclare:
		return false, ch.queueDeclare(m)
	case *wire.QueueBind:
		return false, ch.queueBind(m)
	case *wire.QueueUnbind:
		return false, ch.queueUnbind(m)
	case *wire.QueuePurge:
		return false, ch.queuePurge(m)
	case *wire.QueueDelete:
		return false, ch.queueDelete(m)
	case *wire.BasicQos:
		return false, ch.qos(m)
	case *wire.BasicConsume:
		return false, ch.consume(m)
	case *wire.BasicCancel:
		return false, ch.cancelConsumer(m)
	case *wire.BasicGet:
		return false, ch.get(m)
	case *wire.BasicAck:
		return false, ch.settle(m.DeliveryTag, m.Multiple, settleAck, false)
	case *wire.BasicNack:
		return false, ch.settle(m.DeliveryTag, m.Multiple, settleNack, m.Requeue)
	case *wire.BasicReject:
		return false, ch.settle(m.DeliveryTag, false, settleNack, m.Requeue)
	case *wire.BasicRecover:
		if err := ch.recover(m.Requeue); err != nil {
			return false, err
		}
		return false, ch.c.send(ch.id, &wire.BasicRecoverOk{})
	case *wire.BasicRecoverAsync:
		return false, ch.recover(m.Requeue)
	case *wire.ConfirmSelect:
		ch.confirm = true
		if m.NoWait {
			return false, nil
		}
		return false, ch.c.send(ch.id, &wire.ConfirmSelectOk{})
	case *wire.TxSelect, *wire.TxCommit, *wire.TxRollback:
		return false, wire.Errorf(wire.NotImplemented, "transactions (tx.select, tx.commit, tx.rollback) are not supported by Warren; use publisher confirms (confirm.select) instead")
	case *wire.BasicQosOk, *wire.BasicConsumeOk, *wire.BasicCancelOk:
	}
	return false, wire.Errorf(wire.CommandInvalid, "%s is not a method a client sends on a channel", m.Name())
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
