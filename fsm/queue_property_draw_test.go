package fsm

import (
	"fmt"
	"strings"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// drawSpec draws the spec of queue id for TestQueueGroupProperties, with
// random limits (a negative max-length among them: the machine clamps it).
func drawSpec(t *rapid.T, id uint64) *fsmpb.QueueSpec {
	s := qspec(id, fmt.Sprintf("q%d", id))
	if rapid.Bool().Draw(t, "hasMaxLen") {
		s.MaxLength = proto.Int64(rapid.Int64Range(-1, 5).Draw(t, "maxLen"))
	}
	if rapid.IntRange(0, 3).Draw(t, "hasMaxBytes") == 0 {
		s.MaxLengthBytes = proto.Int64(rapid.Int64Range(0, 12).Draw(t, "maxBytes"))
	}
	if rapid.Bool().Draw(t, "reject") {
		s.Overflow = fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH
	}
	if rapid.IntRange(0, 3).Draw(t, "hasTTL") == 0 {
		s.MessageTtlMs = proto.Int64(rapid.Int64Range(0, 60).Draw(t, "ttl"))
	}
	s.DeliveryLimit = rapid.Uint32Range(0, 3).Draw(t, "deliveryLimit")
	if rapid.Bool().Draw(t, "dlx") {
		s.DeadLetterExchange = "dlx"
		s.DeadLetterRoutingKey = rapid.SampledFrom([]string{"", "dead"}).Draw(t, "dlk")
		// At least once goes with reject-publish, as the broker requires.
		if s.Overflow == fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH && rapid.Bool().Draw(t, "atLeastOnce") {
			s.DeadLetterStrategy = fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE
		}
	}
	s.SingleActiveConsumer = rapid.IntRange(0, 3).Draw(t, "sac") == 0
	if rapid.IntRange(0, 2).Draw(t, "hasMaxPriority") == 0 {
		s.MaxPriority = rapid.SampledFrom([]uint32{1, 3, 70, 255}).Draw(t, "maxPriority")
	}
	if rapid.IntRange(0, 3).Draw(t, "hasExpires") == 0 {
		s.ExpiresMs = proto.Int64(rapid.Int64Range(1, 80).Draw(t, "expires"))
	}
	return s
}

var (
	propSessions  = []string{"s1", "s2", "s3"}
	propConsumers = []string{"c1", "c2"}
	propProducers = []string{"", "p1", "p2"}
)

// drawCommand draws a random command, often referring to real consumers and
// tags of the current state, sometimes to bogus ones.
func drawCommand(t *rapid.T, g *QueueGroup, specs []*fsmpb.QueueSpec, now *int64) proto.Message {
	spec := func() *fsmpb.QueueSpec { return rapid.SampledFrom(specs).Draw(t, "queue") }
	session := func() string { return rapid.SampledFrom(propSessions).Draw(t, "session") }
	clock := func() int64 {
		*now += rapid.Int64Range(0, 25).Draw(t, "dt")
		switch rapid.IntRange(0, 5).Draw(t, "clockKind") {
		case 0:
			return 0 // no time: the machine uses its own
		case 1:
			return *now - 30 // a leader whose clock is behind
		}
		return *now
	}
	tagItems := func() []*fsmpb.ConsumerTags {
		var items []*fsmpb.ConsumerTags
		for range rapid.IntRange(0, 3).Draw(t, "items") {
			s := session()
			co := g.CheckedOut(s)
			if len(co) > 0 && rapid.IntRange(0, 4).Draw(t, "real") > 0 {
				d := rapid.SampledFrom(co).Draw(t, "delivery")
				tags := []uint64{d.Tag}
				if rapid.Bool().Draw(t, "more") {
					for _, o := range co {
						if o.Queue == d.Queue && o.ConsumerTag == d.ConsumerTag && o.Tag != d.Tag && rapid.Bool().Draw(t, "take") {
							tags = append(tags, o.Tag)
						}
					}
				}
				items = append(items, ctags(d.Queue, s, d.ConsumerTag, tags...))
				continue
			}
			items = append(items, ctags(rapid.Uint64Range(0, 5).Draw(t, "bogusQueue"), s,
				rapid.SampledFrom(append([]string{""}, propConsumers...)).Draw(t, "bogusConsumer"),
				rapid.Uint64Range(0, 6).Draw(t, "bogusTag")))
		}
		return items
	}
	switch rapid.IntRange(0, 22).Draw(t, "kind") {
	case 22:
		return &fsmpb.QueueUsed{Queue: spec(), NowMs: clock()}
	case 0, 1, 2, 3, 4:
		e := &fsmpb.Enqueue{Queues: specs, NowMs: clock()}
		// Both size rules, as in a log written across the upgrade that
		// introduced the second; headers and properties count under it.
		e.SizeRule = rapid.SampledFrom([]fsmpb.SizeRule{
			fsmpb.SizeRule_SIZE_RULE_BODY, fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS,
		}).Draw(t, "sizeRule")
		for range rapid.IntRange(0, 4).Draw(t, "msgs") {
			refs := rapid.SliceOfN(rapid.Uint32Range(0, uint32(len(specs)-1)), 1, 3).Draw(t, "refs")
			m := emsg(rapid.SampledFrom([]string{"", "a", "bb", "cccc", "dddddddd"}).Draw(t, "body"), refs...)
			m.ProducerId = rapid.SampledFrom(propProducers).Draw(t, "producer")
			m.Sequence = rapid.Uint64Range(0, 12).Draw(t, "seq")
			if rapid.IntRange(0, 3).Draw(t, "expires") == 0 {
				m.Payload.Properties = &fsmpb.Properties{ExpirationMs: rapid.Int64Range(1, 50).Draw(t, "expiration")}
			}
			if rapid.Bool().Draw(t, "hasPriority") {
				if m.Payload.Properties == nil {
					m.Payload.Properties = &fsmpb.Properties{}
				}
				m.Payload.Properties.Priority = rapid.SampledFrom([]uint32{0, 1, 2, 5, 69, 200, 255, 300}).Draw(t, "priority")
			}
			if rapid.Bool().Draw(t, "defaultExchange") {
				// As the default exchange routes: to the queue its key names.
				m.Payload.Exchange, m.Payload.RoutingKey = "", specs[refs[0]].GetName()
			}
			if rapid.IntRange(0, 2).Draw(t, "hasHeaders") == 0 {
				m.Payload.Headers = map[string]*fsmpb.Value{
					"h": {Kind: &fsmpb.Value_StringValue{StringValue: rapid.SampledFrom([]string{"", "v", "vvvv"}).Draw(t, "header")}},
				}
			}
			// An outbox republish that may be a duplicate: from a draw made
			// already, so the kept failure files replay as before.
			m.Payload.Redelivered = m.Sequence%4 == 3
			e.Messages = append(e.Messages, m)
		}
		return e
	case 6, 7:
		c := checkout(spec(), session(), rapid.SampledFrom(propConsumers).Draw(t, "consumer"),
			rapid.Uint32Range(0, 3).Draw(t, "prefetch"), rapid.IntRange(0, 3).Draw(t, "autoAck") == 0)
		c.NowMs = clock()
		if rapid.Bool().Draw(t, "hasTimeout") {
			c.TimeoutMs = rapid.Int64Range(1, 60).Draw(t, "timeout")
		}
		if rapid.IntRange(0, 2).Draw(t, "hasConsumerPriority") == 0 {
			c.Priority = rapid.Int32Range(-2, 2).Draw(t, "consumerPriority")
		}
		return c
	case 8:
		c := cancel(spec().GetId(), session(), rapid.SampledFrom(append([]string{""}, propConsumers...)).Draw(t, "consumer"))
		c.NowMs = clock()
		return c
	case 9, 10, 11:
		s := settle(tagItems()...)
		s.NowMs = clock()
		return s
	case 12, 13:
		s := retrn(tagItems()...)
		s.NowMs = clock()
		return s
	case 14:
		s := discard(tagItems()...)
		s.NowMs = clock()
		return s
	case 15:
		s := sessionDown(rapid.SliceOfN(rapid.SampledFrom(propSessions), 0, 2).Draw(t, "down")...)
		s.NowMs = clock()
		return s
	case 16, 17:
		n := clock()
		return get(spec(), session(), rapid.Bool().Draw(t, "getAutoAck"), *now+rapid.Int64Range(-5, 40).Draw(t, "lease"), n)
	case 18, 5:
		return tick(clock())
	case 19:
		return &fsmpb.Purge{Queue: spec().GetId()}
	case 20:
		if rapid.IntRange(0, 3).Draw(t, "reallyDrop") == 0 {
			return &fsmpb.DropQueue{Queue: spec().GetId()}
		}
		if rapid.IntRange(0, 2).Draw(t, "delay") == 0 {
			d := &fsmpb.DelayMessages{NowMs: clock()}
			for range rapid.IntRange(1, 2).Draw(t, "delayed") {
				body := rapid.SampledFrom([]string{"", "a", "bb"}).Draw(t, "delayedBody")
				delay := rapid.Int64Range(-5, 40).Draw(t, "delayMs")
				// The producer and sequence come from those draws, so the
				// kept failure files replay as before; they meet the
				// Enqueues' (the group's one table of producers).
				d.Messages = append(d.Messages, &fsmpb.DelayedMessage{Payload: emsg(body).GetPayload(), DelayMs: delay,
					ProducerId: propProducers[len(body)%len(propProducers)], Sequence: uint64(delay+5) % 13})
			}
			return d
		}
		if out := g.Outbox(); len(out) > 0 && rapid.Bool().Draw(t, "settleDeadLetters") {
			ids := []uint64{rapid.Uint64Range(0, 3).Draw(t, "bogusOutboxID")}
			for _, dl := range out {
				if rapid.Bool().Draw(t, "settleIt") {
					ids = append(ids, dl.OutboxID)
				}
			}
			return &fsmpb.SettleDeadLetters{Ids: ids}
		}
		return tick(clock())
	default:
		// Malformed input, or past a limit: must be refused without a
		// change.
		long := strings.Repeat("n", MaxNameBytes+1)
		return rapid.SampledFrom([]proto.Message{
			enqueue(0, specs, emsg("x", 9)),
			enqueue(0, specs, emsg("x", 0), emsg("y")),
			enqueue(0, []*fsmpb.QueueSpec{specs[0], qspec(9, long)}, emsg("x", 0)),
			checkout(nil, "s1", "c1", 0, false),
			checkout(specs[0], "s1", long, 0, false),
			checkout(specs[0], "s1", "c\xff", 0, false),
			checkout(specs[0], strings.Repeat("s", MaxSessionIDBytes+1), "c1", 0, false),
			checkout(specs[0], "s1", "c1", MaxPrefetch+1, false),
			get(qspec(0, ""), "s1", false, 0, 0),
			get(spec(), "", false, 0, 0),
			cancel(spec().GetId(), "s1", long),
			settle(ctags(spec().GetId(), "s1", "c1", 1), ctags(1, "", "c1", 1)),
			sessionDown("s1", ""),
			(*fsmpb.Settle)(nil),
			&fsmpb.DeclareQueue{},
		}).Draw(t, "malformed")
	}
}
