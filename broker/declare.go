package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// Declarations: exchanges, queues and bindings live in the meta group.
// Every write returns the meta index it committed at, which a client
// passes on so that any node it asks next has applied as much.

// proposeMeta commits a meta command and returns its result and index. A
// domain error of the state machine is returned as the error.
func (b *Broker) proposeMeta(ctx context.Context, cmd proto.Message) (*fsm.Result, uint64, error) {
	res, index, err := b.proposeOrForward(ctx, b.meta, cmd)
	if err != nil {
		return nil, 0, err
	}
	// When the leader was elsewhere, wait until this node's copy has the
	// change, so the caller's next read here sees it.
	if err := b.WaitMetaIndex(ctx, index); err != nil {
		return nil, 0, err
	}
	if res.Err != nil {
		return res, index, res.Err
	}
	return res, index, nil
}

// DeclareExchange creates an exchange, or checks that an identical one
// exists.
func (b *Broker) DeclareExchange(ctx context.Context, s ExchangeSpec) (uint64, error) {
	if err := CheckExchangeArgs(s.Args); err != nil {
		return 0, err
	}
	if _, ok := alternateExchange(s.Args); ok {
		if err := b.requireMetaVersion("the alternate-exchange argument"); err != nil {
			return 0, err
		}
	}
	if _, ok := s.Args["x-delayed-type"]; ok && s.Kind != fsm.DelayedKind {
		return 0, fmt.Errorf("%w: exchange argument \"x-delayed-type\" is for exchanges of kind %s only", fsm.ErrInvalid, fsm.DelayedKind)
	}
	if s.Kind == fsm.DelayedKind {
		if _, _, err := fsm.ParseExchangeKind(s.Kind, logValues(s.Args)); err != nil {
			return 0, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
		}
		if err := b.requireMetaVersion("exchanges of kind x-delayed-message"); err != nil {
			return 0, err
		}
	}
	_, idx, err := b.proposeMeta(ctx, &fsmpb.DeclareExchange{
		Vhost: logVHost(s.VHost), Name: s.Name, Kind: s.Kind, AutoDelete: s.AutoDelete, Internal: s.Internal, Arguments: logValues(s.Args),
	})
	return idx, err
}

// DeleteExchange deletes an exchange and its bindings; with ifUnused only
// when it has none.
func (b *Broker) DeleteExchange(ctx context.Context, vhost, name string, ifUnused bool) (uint64, error) {
	_, idx, err := b.proposeMeta(ctx, &fsmpb.DeleteExchange{Vhost: logVHost(vhost), Name: name, IfUnused: ifUnused})
	return idx, err
}

// Bind adds a binding; binding twice is a no-op. An exchange-to-exchange
// binding waits for every meta voter to apply them (FSM version 3).
func (b *Broker) Bind(ctx context.Context, bd Binding) (uint64, error) {
	if bd.ToExchange {
		if err := b.requireMetaVersion("exchange-to-exchange bindings"); err != nil {
			return 0, err
		}
	}
	_, idx, err := b.proposeMeta(ctx, &fsmpb.Bind{
		Vhost: logVHost(bd.VHost), Exchange: bd.Exchange, Queue: bd.Queue, Key: bd.Key, Arguments: logValues(bd.Args), DestinationKind: logDestination(bd.ToExchange),
	})
	return idx, err
}

// Unbind removes a binding; removing a missing one is a no-op.
func (b *Broker) Unbind(ctx context.Context, bd Binding) (uint64, error) {
	if bd.ToExchange {
		if err := b.requireMetaVersion("exchange-to-exchange bindings"); err != nil {
			return 0, err
		}
	}
	_, idx, err := b.proposeMeta(ctx, &fsmpb.Unbind{
		Vhost: logVHost(bd.VHost), Exchange: bd.Exchange, Queue: bd.Queue, Key: bd.Key, Arguments: logValues(bd.Args), DestinationKind: logDestination(bd.ToExchange),
	})
	return idx, err
}

// DeclareQueue creates a queue (placing it on a queue group), or checks
// that an identical one exists, and returns it with its counts. An empty
// name gets a generated amq.gen-… one, as in RabbitMQ.
func (b *Broker) DeclareQueue(ctx context.Context, s QueueSpec) (Queue, uint64, error) {
	name := s.Name
	if name == "" {
		name = generatedName(fsm.GeneratedQueuePrefix)
	}
	if err := checkArgNames("queue", s.Args, SupportedQueueArgs); err != nil {
		return Queue{}, 0, err
	}
	var level uint32
	if b.metaGate.ok() {
		level = fsm.ArgsLevel3
	} else if err := checkFeatureArgs(s.Args); err != nil {
		return Queue{}, 0, err
	}
	if needsVersion3(s.Args) {
		if err := b.requireMetaVersion("overflow reject-publish-dlx and at-least-once dead-lettering"); err != nil {
			return Queue{}, 0, err
		}
	}
	res, idx, err := b.proposeMeta(ctx, &fsmpb.DeclareQueue{
		Vhost: logVHost(s.VHost), Name: name, Exclusive: s.Exclusive, AutoDelete: s.AutoDelete, Arguments: logValues(s.Args), OwnerSession: s.OwnerSession,
		ArgsLevel: level, DeadLetterStrategy: deadLetterStrategy(s.Args),
	})
	if err != nil {
		return Queue{}, 0, err
	}
	if err := b.queueUsed(ctx, s.VHost, res.QueueName); err != nil {
		return Queue{}, 0, err
	}
	q, err := b.Queue(s.VHost, res.QueueName)
	return q, idx, err
}

// queueUsed tells the group of a queue with x-expires that it was
// declared (created or re-declared), which restarts its idle time (and
// creates its state, so that a queue never used expires too). A failure
// is the declaration's: the client's retry re-declares.
func (b *Broker) queueUsed(ctx context.Context, vhost, name string) error {
	def, qg, err := b.lookupQueue(vhost, name)
	if err != nil || def.Spec.ExpiresMs == nil {
		return err
	}
	_, err = qg.run(ctx, &fsmpb.QueueUsed{Queue: def.Spec, NowMs: nowMs()})
	return err
}

// expireQueues deletes the queues a Tick found unused past their
// x-expires (on the leader, off the apply path), each once at a time; a
// queue re-declared under the same name since (a new id) is not the
// expired one and stays, and one that gained a consumer meanwhile stays
// (if-unused).
func (b *Broker) expireQueues(expired []fsm.IdleQueue) {
	for _, q := range expired {
		if _, busy := b.expiring.LoadOrStore(q.ID, true); busy {
			continue
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.expiring.Delete(q.ID)
			var same bool
			b.readMeta(func(m *fsm.Meta) {
				def, ok := m.Queue(q.VHost, q.Name)
				same = ok && def.ID == q.ID
			})
			if !same {
				return
			}
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			_, _, err := b.deleteQueue(ctx, q.Name, DeleteQueueOptions{VHost: q.VHost, IfUnused: true, Reason: "queue expired (x-expires)"})
			if err != nil && !errors.Is(err, fsm.ErrNotFound) && !errors.Is(err, fsm.ErrPrecondition) {
				b.logger.Warn("could not delete an expired queue", "queue", q.Name, "vhost", q.VHost, "error", err)
			}
		}()
	}
}

// generatedName is prefix and 24 random hex digits.
func generatedName(prefix string) string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return prefix + hex.EncodeToString(r[:])
}

// DeleteQueue deletes a queue, its bindings and its messages, and returns
// how many ready messages it held. An exclusive queue may be deleted only
// by the session that declared it.
func (b *Broker) DeleteQueue(ctx context.Context, name string, o DeleteQueueOptions) (uint64, uint64, error) {
	if err := b.checkExclusive(o.VHost, name, o.Session); err != nil {
		return 0, 0, err
	}
	return b.deleteQueue(ctx, name, o)
}

// checkExclusive is exclusiveTo for the queue named name.
func (b *Broker) checkExclusive(vhost, name, session string) error {
	def, _, err := b.lookupQueue(vhost, name)
	if err != nil {
		return err
	}
	return exclusiveTo(def, session)
}

// exclusiveTo refuses a call on queue def from any session but its
// owner's when the queue is exclusive (RabbitMQ's RESOURCE_LOCKED): the
// one check of consume, get, purge and delete.
func exclusiveTo(def *fsm.QueueDef, session string) error {
	if def.Exclusive && def.OwnerSession != session {
		return fmt.Errorf("%w: queue %q is exclusive to the session that declared it (resource locked)", fsm.ErrPrecondition, def.Name)
	}
	return nil
}

// deleteQueue is DeleteQueue without the exclusivity check, for the
// broker's own deletions (auto-delete).
func (b *Broker) deleteQueue(ctx context.Context, name string, o DeleteQueueOptions) (uint64, uint64, error) {
	q, err := b.Queue(o.VHost, name)
	if err != nil {
		return 0, 0, err
	}
	if o.IfUnused && q.Consumers > 0 {
		return 0, 0, fmt.Errorf("%w: queue %q has %d consumers (if-unused)", fsm.ErrPrecondition, name, q.Consumers)
	}
	if o.IfEmpty && q.Ready+q.Unacked > 0 {
		return 0, 0, fmt.Errorf("%w: queue %q has %d messages (if-empty)", fsm.ErrPrecondition, name, q.Ready+q.Unacked)
	}
	res, idx, err := b.proposeMeta(ctx, &fsmpb.DeleteQueue{Vhost: logVHost(o.VHost), Name: name})
	if err != nil {
		return 0, 0, err
	}
	reason := o.Reason
	if reason == "" {
		reason = "queue deleted"
	}
	b.dropQueues(ctx, res.DroppedQueues, reason)
	return q.Ready, idx, nil
}

// dropQueues tells each dropped queue's group to drop its state, up to
// dropsInFlight at once, so that Raft writes the DropQueues of a batch of
// ended sessions (or of auto-deletes) together. A failure leaves state
// that no one can reach (the meta group no longer routes to it); it is
// logged. reason is what the streams of the queues' consumers end with.
func (b *Broker) dropQueues(ctx context.Context, dropped []fsm.DroppedQueue, reason string) {
	sem := make(chan struct{}, dropsInFlight)
	var wg sync.WaitGroup
	for _, d := range dropped {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			qg, err := b.queueGroup(d.Group)
			if err == nil {
				_, err = qg.run(ctx, &fsmpb.DropQueue{Queue: d.ID, Reason: reason})
			}
			if err != nil {
				b.logger.Warn("could not drop a deleted queue's state", "queue", d.Name, "group", d.Group, "error", err)
			}
		}()
	}
	wg.Wait()
}

// dropsInFlight bounds the DropQueue proposals of one dropQueues.
const dropsInFlight = 64

// PurgeQueue removes a queue's ready messages and returns how many. An
// exclusive queue may be purged only by session, the one that declared it.
func (b *Broker) PurgeQueue(ctx context.Context, vhost, name, session string) (uint64, error) {
	def, qg, err := b.lookupQueue(vhost, name)
	if err != nil {
		return 0, err
	}
	if err := exclusiveTo(def, session); err != nil {
		return 0, err
	}
	res, err := qg.run(ctx, &fsmpb.Purge{Queue: def.ID})
	if errors.Is(err, fsm.ErrNotFound) {
		// A queue never used has no state in its group yet: nothing to purge.
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return res.Count, nil
}

// CheckQueueArgs reports, as DeclareQueue would, an argument a queue
// cannot be declared with (unknown x- argument, wrong type or range), so
// that a front end refuses it before anything is proposed.
func CheckQueueArgs(name string, args map[string]Value) error {
	if err := checkArgNames("queue", args, SupportedQueueArgs); err != nil {
		return err
	}
	_, err := fsm.QueueSpecFromArgs(0, name, logValues(args), fsm.ArgsLevel3)
	return err
}

// CheckExchangeArgs reports, as DeclareExchange would, an argument an
// exchange cannot be declared with.
func CheckExchangeArgs(args map[string]Value) error {
	if err := checkArgNames("exchange", args, SupportedExchangeArgs); err != nil {
		return err
	}
	for _, k := range []string{"alternate-exchange", "x-alternate-exchange"} {
		if v, ok := args[k]; ok && v.Type != ValueString {
			return fmt.Errorf("%w: exchange argument %q must be a string (an exchange name)", fsm.ErrInvalid, k)
		}
	}
	return nil
}

// alternateExchange is the alternate-exchange argument of an exchange's
// arguments, when it has one.
func alternateExchange(args map[string]Value) (string, bool) {
	for _, k := range []string{"alternate-exchange", "x-alternate-exchange"} {
		if v, ok := args[k]; ok && v.Type == ValueString {
			return v.Str, true
		}
	}
	return "", false
}

// CheckExchangeKind reports an exchange kind Warren does not have (it has
// direct, fanout, topic and headers).
func CheckExchangeKind(kind string) error {
	if kind == fsm.DelayedKind {
		return nil // its x-delayed-type is checked with the arguments
	}
	_, err := routing.ParseKind(kind)
	return err
}

// logVHost is a vhost as log commands carry it: "" for the default, so
// that the commands of the default vhost are as they were before vhosts.
func logVHost(v string) string {
	if v == fsm.DefaultVHost {
		return ""
	}
	return v
}
