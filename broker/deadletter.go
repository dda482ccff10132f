package broker

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// Dead-lettering as RabbitMQ 3.13+/4 does it: each dead-lettered message
// carries an x-death header, an array of tables, one per (queue, reason),
// the most recent first (count, reason, queue, time, exchange,
// routing-keys, original-expiration), plus x-first-death-{reason,queue,
// exchange} (set once) and x-last-death-{reason,queue,exchange} (set each
// time). A per-message expiration is removed (kept as original-expiration)
// so the message does not expire again in the target. A queue the message
// already died in is left out of the targets when every death since then
// was automatic (expired, maxlen, delivery_limit): a fully automatic cycle
// drops the message there; a cycle with a rejection in it goes on, since
// a consumer decided.

// deadLetterRoute is what the broker's routing of a dead letter needs
// beyond a publish's.
type deadLetterRoute struct {
	// deaths is the updated x-death, the most recent first.
	deaths []*fsmpb.ValueTable
	// dropped names the queues left out as a cycle, for the log.
	dropped []string
}

// withoutCycles leaves out the queues that would close a fully automatic
// dead-letter cycle.
func (r *deadLetterRoute) withoutCycles(queues []*fsm.QueueDef) []*fsm.QueueDef {
	kept := queues[:0:0]
	r.dropped = r.dropped[:0]
	for _, q := range queues {
		if isDeathCycle(q.Name, r.deaths) {
			r.dropped = append(r.dropped, q.Name)
			continue
		}
		kept = append(kept, q)
	}
	return kept
}

// isDeathCycle reports whether dead-lettering to queue closes a cycle with
// no rejection in it: walking the deaths from the most recent, queue is
// met before any death of reason rejected (RabbitMQ's is_cycle).
func isDeathCycle(queue string, deaths []*fsmpb.ValueTable) bool {
	for _, d := range deaths {
		if tableString(d, "reason") == dlReasonRejected {
			return false
		}
		if tableString(d, "queue") == queue {
			return true
		}
	}
	return false
}

const dlReasonRejected = "rejected"

// republishDeadLetters publishes discarded messages to their queues'
// dead-letter exchanges, off the apply path. It is at most once: a leader
// that dies before the republish commits loses the dead letter (never the
// original, which was already discarded by the log).
func (b *Broker) republishDeadLetters(dls []fsm.DeadLetter) {
	now := time.Now()
	entries := make([]PublishEntry, 0, len(dls))
	vhosts := make([]string, 0, len(dls))
	// x-death is a list of tables: while a server of an older build
	// remains, the dead letter goes without it (x-first/x-last-death-*
	// only), as before.
	withDeaths := b.requireMetaVersion("x-death") == nil
	for _, dl := range dls {
		vhosts = append(vhosts, dl.VHost)
		e := deadLetterEntry(dl, now)
		if !withDeaths {
			delete(e.Message.Headers, "x-death")
		}
		entries = append(entries, e)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		for i, e := range entries {
			_, err := b.Publish(ctx, vhosts[i], "", []PublishEntry{e})
			if err != nil {
				b.logger.Warn("dead letter dropped", "queue", dls[i].Queue, "vhost", vhostName(vhosts[i]), "exchange", e.Exchange, "error", err)
				continue
			}
			if d := e.deadLetter.dropped; len(d) > 0 {
				b.logger.Warn("dead letter dropped for a dead-letter cycle with no rejection in it",
					"queue", dls[i].Queue, "vhost", vhostName(vhosts[i]), "reason", dls[i].Reason, "targets", d)
			}
		}
	}()
}

// deadLetterEntry is the publish of a dead letter: its message with the
// death recorded in the headers, to the dead-letter exchange and key.
func deadLetterEntry(dl fsm.DeadLetter, now time.Time) PublishEntry {
	m := message(dl.Payload)
	m.Headers = maps.Clone(m.Headers)
	if m.Headers == nil {
		m.Headers = map[string]Value{}
	}
	deaths := recordDeath(deathsOf(m.Headers), dl, now, m.Properties.ExpirationMs)
	m.Properties.ExpirationMs = 0
	m.Headers["x-death"] = Value{Type: ValueList, Str: string(fsm.NestedEncoding(deathList(deaths)))}
	exchange := dl.Payload.GetExchange()
	if _, ok := m.Headers["x-first-death-reason"]; !ok {
		m.Headers["x-first-death-reason"] = stringValue(dl.Reason)
		m.Headers["x-first-death-queue"] = stringValue(dl.Queue)
		m.Headers["x-first-death-exchange"] = stringValue(exchange)
	}
	m.Headers["x-last-death-reason"] = stringValue(dl.Reason)
	m.Headers["x-last-death-queue"] = stringValue(dl.Queue)
	m.Headers["x-last-death-exchange"] = stringValue(exchange)
	return PublishEntry{Exchange: dl.Exchange, RoutingKey: dl.RoutingKey, Message: m, deadLetter: &deadLetterRoute{deaths: deaths}}
}

// recordDeath adds one death to x-death: the entry of the same queue and
// reason has its count raised and moves to the front; otherwise a new one
// (count 1, the time, the exchange and routing keys the message had) goes
// to the front.
func recordDeath(deaths []*fsmpb.ValueTable, dl fsm.DeadLetter, now time.Time, expirationMs int64) []*fsmpb.ValueTable {
	for i, d := range deaths {
		if tableString(d, "queue") != dl.Queue || tableString(d, "reason") != dl.Reason {
			continue
		}
		count := int64(0)
		if v, ok := d.GetFields()["count"].GetKind().(*fsmpb.Value_IntValue); ok {
			count = v.IntValue
		}
		d.Fields["count"] = intField(count + 1)
		out := append([]*fsmpb.ValueTable{d}, deaths[:i]...)
		return append(out, deaths[i+1:]...)
	}
	d := &fsmpb.ValueTable{Fields: map[string]*fsmpb.Value{
		"count":    intField(1),
		"reason":   stringField(dl.Reason),
		"queue":    stringField(dl.Queue),
		"time":     intField(now.Unix()),
		"exchange": stringField(dl.Payload.GetExchange()),
		"routing-keys": {Kind: &fsmpb.Value_ListValue{ListValue: &fsmpb.ValueList{
			Values: []*fsmpb.Value{stringField(dl.Payload.GetRoutingKey())},
		}}},
	}}
	if expirationMs > 0 {
		d.Fields["original-expiration"] = stringField(strconv.FormatInt(expirationMs, 10))
	}
	return append([]*fsmpb.ValueTable{d}, deaths...)
}

// deathsOf decodes the x-death header: its tables, in order; anything
// else in it (or a header of another type) is ignored, as RabbitMQ
// ignores an x-death it did not write.
func deathsOf(headers map[string]Value) []*fsmpb.ValueTable {
	v, ok := headers["x-death"]
	if !ok || v.Type != ValueList {
		return nil
	}
	l := &fsmpb.ValueList{}
	if proto.Unmarshal([]byte(v.Str), l) != nil {
		return nil
	}
	var out []*fsmpb.ValueTable
	for _, e := range l.GetValues() {
		if t, ok := e.GetKind().(*fsmpb.Value_TableValue); ok && t.TableValue != nil {
			if t.TableValue.Fields == nil {
				t.TableValue.Fields = map[string]*fsmpb.Value{}
			}
			out = append(out, t.TableValue)
		}
	}
	return out
}

func deathList(deaths []*fsmpb.ValueTable) *fsmpb.ValueList {
	l := &fsmpb.ValueList{Values: make([]*fsmpb.Value, 0, len(deaths))}
	for _, d := range deaths {
		l.Values = append(l.Values, &fsmpb.Value{Kind: &fsmpb.Value_TableValue{TableValue: d}})
	}
	return l
}

func tableString(t *fsmpb.ValueTable, field string) string {
	if v, ok := t.GetFields()[field].GetKind().(*fsmpb.Value_StringValue); ok {
		return v.StringValue
	}
	return ""
}

func stringField(s string) *fsmpb.Value {
	return &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: s}}
}

func intField(n int64) *fsmpb.Value { return &fsmpb.Value{Kind: &fsmpb.Value_IntValue{IntValue: n}} }

func stringValue(s string) Value { return Value{Type: ValueString, Str: s} }
