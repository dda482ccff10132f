package fsm

import (
	"cmp"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// queueMsg is the record of one message in one queue. It is small and
// fixed-size (48 bytes) so that a backlog costs little beyond its bodies:
// with the body in a body store and nothing but a body set by the
// publisher, the record is all a queued message costs the state (see
// msgBody for the forms a payload takes). It reaches the payload only
// through payload and its siblings.
type queueMsg struct {
	id     uint64 // per queue, increasing in log order, from 0
	index  uint64 // Raft index of the Enqueue that carried the message
	expiry int64  // Unix ms at which the message expires; 0: never
	size   uint32 // bytes counted against max_length_bytes: sizeOf at enqueue
	count  uint32 // delivery count: how often it was delivered and came back
	// ref, when its refInline bit is set, holds the payload's BodyRef
	// inline: the position, with refLen the length, and index the Raft
	// index (msgBody says when a payload is held so).
	ref, refLen uint32
	// env is the payload (ref not inline), or with ref inline the payload
	// less its BodyRef, or nil when that is implied (no headers, no
	// properties, the default exchange, the queue's name as routing key).
	// Shared by every queue of the group the message went to, by the
	// Deliveries that carry it and, with ref inline, by equal messages of
	// the queue (envelope): never mutate it.
	env *fsmpb.Payload
}

// refInline marks queueMsg.ref as holding a BodyRef's position.
const refInline = 1 << 31

// dropPayload leaves the record without a payload (an auto-ack consumer's
// outstanding tag: the message left at assignment).
func (m *queueMsg) dropPayload() { m.env, m.ref, m.refLen = nil, 0, 0 }

// payload returns the message's payload, equal (proto.Equal, and the same
// bytes marshalled) to the one enqueued, in a queue named queue; nil when
// the record holds none. A payload held inline is built anew on each call.
func (m *queueMsg) payload(queue string) *fsmpb.Payload {
	if m.ref&refInline == 0 {
		return m.env
	}
	return m.payloadInto(queue, &fsmpb.Payload{}, &fsmpb.BodyRef{})
}

// payloadInto is payload building an inline payload in p and r (empty, or
// last built by payloadInto), which the caller owns: the snapshot writer
// reuses two for every message.
func (m *queueMsg) payloadInto(queue string, p *fsmpb.Payload, r *fsmpb.BodyRef) *fsmpb.Payload {
	if m.ref&refInline == 0 {
		return m.env
	}
	m.bodyRefInto(r)
	p.Body, p.BodyRef = nil, r
	if e := m.env; e != nil {
		p.Headers, p.Properties, p.Exchange, p.RoutingKey, p.Redelivered = e.Headers, e.Properties, e.Exchange, e.RoutingKey, e.Redelivered
	} else {
		p.Headers, p.Properties, p.Exchange, p.RoutingKey, p.Redelivered = nil, nil, "", queue, false
	}
	return p
}

// bodyRefInto sets r to the message's BodyRef, held inline, and reports
// whether it is; r is the caller's.
func (m *queueMsg) bodyRefInto(r *fsmpb.BodyRef) bool {
	if m.ref&refInline == 0 {
		return false
	}
	r.Index, r.Position, r.Length = m.index, m.ref&^refInline, m.refLen
	return true
}

// properties returns the message's properties (nil when it has none),
// without building its payload.
func (m *queueMsg) properties() *fsmpb.Properties { return m.env.GetProperties() }

// msgBody is how the queues of a group hold one enqueued payload p,
// prepared once per message (one payload may go to several queues). A
// payload whose body was moved to a body store (a BodyRef that names the
// message's own entry, and no body) is held inline: the BodyRef in the
// record, and what else the publisher set (headers, properties, exchange,
// a routing key that is not the queue's name) in one copy of p without the
// BodyRef, shared by the queues, or nothing when there is nothing else.
// Any other payload (a body in memory; a reference from another entry, or
// with fields this build does not know) is held as it is. Either way
// payload gives back what was enqueued, so results and snapshots do not
// depend on the form.
type msgBody struct {
	p      *fsmpb.Payload
	inline bool
	env    *fsmpb.Payload // p without its BodyRef, made when first needed
}

// newMsgBody prepares p, enqueued by the entry at index.
func newMsgBody(p *fsmpb.Payload, index uint64) msgBody {
	r := p.GetBodyRef()
	inline := r != nil && len(p.GetBody()) == 0 && r.GetIndex() == index && r.GetPosition() < refInline &&
		len(r.ProtoReflect().GetUnknown()) == 0 && len(p.ProtoReflect().GetUnknown()) == 0
	return msgBody{p: p, inline: inline}
}

// set stores the payload in m, a record of q.
func (b *msgBody) set(m *queueMsg, q *queueState) {
	if !b.inline {
		m.env, m.ref, m.refLen = b.p, 0, 0
		return
	}
	r := b.p.GetBodyRef()
	m.ref, m.refLen = r.GetPosition()|refInline, r.GetLength()
	p := b.p
	if len(p.GetHeaders()) == 0 && p.Properties == nil && p.GetExchange() == "" && p.GetRoutingKey() == q.spec.GetName() && !p.GetRedelivered() {
		m.env = nil
		return
	}
	if b.env == nil {
		b.env = q.envelope(p)
	}
	m.env = b.env
}

// envelope returns p without its body and BodyRef (which the record holds).
// A message without headers shares the queue's last such copy when that is
// equal (the messages of one publisher through one exchange with one key
// mostly are), so they cost the record alone; the copy is immutable, and
// equal fields give equal results and snapshot bytes.
func (q *queueState) envelope(p *fsmpb.Payload) *fsmpb.Payload {
	if len(p.GetHeaders()) > 0 {
		return &fsmpb.Payload{Headers: p.Headers, Properties: p.Properties, Exchange: p.Exchange, RoutingKey: p.RoutingKey, Redelivered: p.Redelivered}
	}
	if e := q.lastEnvelope; e != nil && e.Exchange == p.Exchange && e.RoutingKey == p.RoutingKey && e.Redelivered == p.Redelivered &&
		sameProperties(e.Properties, p.Properties) {
		return e
	}
	q.lastEnvelope = &fsmpb.Payload{Properties: p.Properties, Exchange: p.Exchange, RoutingKey: p.RoutingKey, Redelivered: p.Redelivered}
	return q.lastEnvelope
}

// sameProperties reports whether a and b marshal alike: both nil, or both
// set with equal fields and no unknown ones. TestSamePropertiesCoversEveryField
// keeps it complete.
func sameProperties(a, b *fsmpb.Properties) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ContentType == b.ContentType && a.ContentEncoding == b.ContentEncoding &&
		a.MessageId == b.MessageId && a.CorrelationId == b.CorrelationId && a.ReplyTo == b.ReplyTo &&
		a.ExpirationMs == b.ExpirationMs && a.TimestampMs == b.TimestampMs && a.Type == b.Type &&
		a.AppId == b.AppId && a.UserId == b.UserId && a.Priority == b.Priority &&
		len(a.ProtoReflect().GetUnknown()) == 0 && len(b.ProtoReflect().GetUnknown()) == 0
}

// outMsg is a consumer's outstanding delivery: the message and when it was
// assigned (Unix ms, for the consumer timeout; 0 when the consumer has
// none). Outside queueMsg, which ready messages, most of a backlog, fill.
type outMsg struct {
	queueMsg
	outAt int64
}

// queueConsumer is one consumer (session, consumer tag) of a queue.
type queueConsumer struct {
	session  string
	tag      string
	prefetch uint32 // 0: unlimited
	autoAck  bool
	nextTag  uint64 // the next delivery tag; tags start at 1, never reused
	// priority is the consumer's x-priority: consumers of a higher one are
	// served first while they have credit.
	priority int32
	// timeoutMs ends the consumer when a delivery of its stays unacked this
	// long; 0: never.
	timeoutMs int64
	// out holds the outstanding deliveries by tag. For an auto-ack consumer
	// the record has no body: the message left the queue at assignment and
	// only the tag (the credit it uses) remains until it is settled.
	out map[uint64]outMsg
	// low is the lowest outstanding tag, or nextTag when none is: tags are
	// handed out in order and assignment times never decrease, so it is
	// the oldest delivery (consumer timeout) in O(1). Derived from out
	// (kept by settleLow; recomputed on restore), not in snapshots.
	low uint64
	// prev and next link the queue's service order (round robin).
	prev, next *queueConsumer
}

// oldestOut returns the tag and assignment time of the consumer's oldest
// delivery that counts for its timeout, or 0, 0 when none does (no
// timeout, auto-ack, nothing out). O(1).
func (c *queueConsumer) oldestOut() (tag uint64, at int64) {
	if c.timeoutMs <= 0 || c.autoAck {
		return 0, 0
	}
	if m, ok := c.out[c.low]; ok && m.outAt != 0 {
		return c.low, m.outAt
	}
	return 0, 0
}

// settleLow moves low past the tags no longer outstanding; each tag is
// passed once in the consumer's life, so it costs O(1) per delivery
// amortized.
func (c *queueConsumer) settleLow() {
	if len(c.out) == 0 {
		c.low = c.nextTag
		return
	}
	for c.low < c.nextTag {
		if _, ok := c.out[c.low]; ok {
			return
		}
		c.low++
	}
}

// timeoutDeadline returns when the consumer times out if nothing is
// settled, or 0.
func (c *queueConsumer) timeoutDeadline() int64 {
	_, at := c.oldestOut()
	if at == 0 {
		return 0
	}
	if at > math.MaxInt64-c.timeoutMs {
		return math.MaxInt64
	}
	return at + c.timeoutMs
}

// hasCredit reports whether the consumer may take one more delivery.
func (c *queueConsumer) hasCredit() bool {
	return c.prefetch == 0 || uint64(len(c.out)) < uint64(c.prefetch)
}

// getEntry is one unacknowledged Get.
type getEntry struct {
	msg   queueMsg
	lease int64 // Unix ms at which it returns to the queue; 0: no lease
}

// queueGetHolder holds the unacknowledged gets of one session on one queue;
// it is addressed with consumer tag "".
type queueGetHolder struct {
	session string
	nextTag uint64 // the next get tag; starts at 1, never reused
	out     map[uint64]getEntry
}

// consumerKey identifies a consumer within a queue.
type consumerKey struct{ session, tag string }

// queueState is the state of one queue on its group.
type queueState struct {
	spec      *fsmpb.QueueSpec // immutable once the state exists
	nextMsgID uint64
	// Ready messages: returns are served before the main FIFO. A queue
	// with x-max-priority keeps them per level instead, in levels.
	returns deque[queueMsg]
	main    deque[queueMsg]
	// levels holds, for a priority queue, a returns list and a FIFO per
	// priority 0..max-priority; nonEmpty has bit p set while level p
	// holds a message, so the next message is found in O(levels/64).
	levels     []prioLevel
	nonEmpty   [4]uint64
	prioReady  int // ready messages in levels
	readyBytes uint64
	// unacked counts checked-out messages (with a body) of consumers and gets.
	unacked   uint64
	consumers map[consumerKey]*queueConsumer
	// first and last delimit the service order: a doubly linked list so that
	// moving a consumer to the back is O(1).
	first, last *queueConsumer
	// active is the consumer a single-active-consumer queue serves
	// (pickActive, kept by the assignment pass; nil otherwise).
	active *queueConsumer
	gets   map[string]*queueGetHolder
	// usedAt is when the queue was last used (a consumer attached, a get,
	// a declaration), Unix ms, for x-expires; 0 while it has consumers or
	// until the next Tick starts its idle time.
	usedAt  int64
	dirty   bool // listed in QueueGroup.dirty for this command's assignment
	dropped bool // deleted by DropQueue: skip it in the assignment pass
	// outbox lists the queue's dead letters in the group's outbox
	// (at-least-once); they count toward its length limits.
	outbox      map[uint64]struct{}
	outboxBytes uint64
	// lastEnvelope is the last payload copy without headers that a record
	// of the queue holds inline (envelope), shared with the next message
	// that has the same one: not state, it changes no result.
	lastEnvelope *fsmpb.Payload
}

// prioLevel is one priority level of a priority queue.
type prioLevel struct {
	returns, main deque[queueMsg]
}

func newQueueState(spec *fsmpb.QueueSpec) *queueState {
	q := &queueState{
		spec:      spec,
		consumers: make(map[consumerKey]*queueConsumer),
		gets:      make(map[string]*queueGetHolder),
	}
	if n := spec.GetMaxPriority(); n > 0 {
		q.levels = make([]prioLevel, min(n, MaxPriority)+1)
	}
	return q
}

// msgPriority is the level of a message with properties pr in a queue of
// spec: its priority property capped at x-max-priority; 0 without
// priorities. Computed when needed, not stored: it is a function of both.
func msgPriority(spec *fsmpb.QueueSpec, pr *fsmpb.Properties) uint8 {
	n := min(spec.GetMaxPriority(), MaxPriority)
	if n == 0 {
		return 0
	}
	return uint8(min(pr.GetPriority(), n))
}

// level is m's priority level in q (a priority queue).
func (q *queueState) level(m *queueMsg) int {
	return int(min(int(msgPriority(q.spec, m.properties())), len(q.levels)-1))
}

func (q *queueState) readyLen() int { return q.returns.Len() + q.main.Len() + q.prioReady }

// topLevel returns the highest priority level holding a message.
func (q *queueState) topLevel() (int, bool) {
	for w := len(q.nonEmpty) - 1; w >= 0; w-- {
		if b := q.nonEmpty[w]; b != 0 {
			return w*64 + bits.Len64(b) - 1, true
		}
	}
	return 0, false
}

// levelChanged keeps level p's bit in nonEmpty.
func (q *queueState) levelChanged(p int) {
	if q.levels[p].returns.Len()+q.levels[p].main.Len() > 0 {
		q.nonEmpty[p/64] |= 1 << (p % 64)
	} else {
		q.nonEmpty[p/64] &^= 1 << (p % 64)
	}
}

// popReady removes and returns the head of the ready messages: the
// returns before the main FIFO, of the highest level first in a priority
// queue.
func (q *queueState) popReady() (queueMsg, bool) {
	var m queueMsg
	var ok bool
	if q.levels != nil {
		p, any := q.topLevel()
		if !any {
			return m, false
		}
		l := &q.levels[p]
		if m, ok = l.returns.PopFront(); !ok {
			m, ok = l.main.PopFront()
		}
		q.prioReady--
		q.levelChanged(p)
	} else if m, ok = q.returns.PopFront(); !ok {
		m, ok = q.main.PopFront()
	}
	if ok {
		q.readyBytes -= uint64(m.size)
	}
	return m, ok
}

func (q *queueState) pushMain(m queueMsg) {
	q.readyBytes += uint64(m.size)
	if q.levels != nil {
		p := q.level(&m)
		q.levels[p].main.PushBack(m)
		q.prioReady++
		q.levelChanged(p)
		return
	}
	q.main.PushBack(m)
}

func (q *queueState) pushReturn(m queueMsg) {
	q.readyBytes += uint64(m.size)
	if q.levels != nil {
		p := q.level(&m)
		q.levels[p].returns.PushBack(m)
		q.prioReady++
		q.levelChanged(p)
		return
	}
	q.returns.PushBack(m)
}

// readyDeques returns the lists of ready messages in service order: the
// returns list and the main FIFO, or for a priority queue those of each
// level from the highest down.
func (q *queueState) readyDeques() []*deque[queueMsg] {
	if q.levels == nil {
		return []*deque[queueMsg]{&q.returns, &q.main}
	}
	out := make([]*deque[queueMsg], 0, 2*len(q.levels))
	for p := len(q.levels) - 1; p >= 0; p-- {
		out = append(out, &q.levels[p].returns, &q.levels[p].main)
	}
	return out
}

// clearReady removes every ready message.
func (q *queueState) clearReady() {
	q.returns.Clear()
	q.main.Clear()
	for p := range q.levels {
		q.levels[p] = prioLevel{}
	}
	q.nonEmpty, q.prioReady, q.readyBytes = [4]uint64{}, 0, 0
}

// appendConsumer links c at the back of the service order.
func (q *queueState) appendConsumer(c *queueConsumer) {
	c.prev, c.next = q.last, nil
	if q.last != nil {
		q.last.next = c
	} else {
		q.first = c
	}
	q.last = c
}

// unlinkConsumer removes c from the service order.
func (q *queueState) unlinkConsumer(c *queueConsumer) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		q.first = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		q.last = c.prev
	}
	c.prev, c.next = nil, nil
}

// serviceOrder returns the consumers in service order.
func (q *queueState) serviceOrder() []*queueConsumer {
	out := make([]*queueConsumer, 0, len(q.consumers))
	for c := q.first; c != nil; c = c.next {
		out = append(out, c)
	}
	return out
}

// sortedHolders returns the get-holders sorted by session.
func (q *queueState) sortedHolders() []*queueGetHolder {
	out := slices.Collect(maps.Values(q.gets))
	slices.SortFunc(out, func(a, b *queueGetHolder) int { return cmp.Compare(a.session, b.session) })
	return out
}

// sortedTags returns the keys of an outstanding-delivery map in increasing
// order: map order must never reach results or snapshots.
func sortedTags[V any](m map[uint64]V) []uint64 {
	return slices.Sorted(maps.Keys(m))
}

// specHasFeatures reports whether spec uses a feature of FSM version 3.
func specHasFeatures(s *fsmpb.QueueSpec) bool {
	return s.ExpiresMs != nil || s.SingleActiveConsumer || s.MaxPriority != 0 || s.ConsumerTimeoutMs != nil
}

// expiresMs returns the queue's x-expires, if any.
func (q *queueState) expiresMs() (int64, bool) {
	if q.spec.ExpiresMs == nil {
		return 0, false
	}
	return max(*q.spec.ExpiresMs, 1), true
}

// used records a use of the queue at now, for x-expires.
func (q *queueState) used(now int64) {
	if _, ok := q.expiresMs(); ok {
		q.usedAt = max(now, 1)
	}
}

// expiryDeadline returns when the queue expires, 1 (due now) when its idle
// time starts at the next Tick, or 0 when it does not expire (no x-expires,
// or it has consumers).
func (q *queueState) expiryDeadline() int64 {
	ttl, ok := q.expiresMs()
	if !ok || len(q.consumers) > 0 {
		return 0
	}
	if q.usedAt == 0 {
		return 1
	}
	if q.usedAt > math.MaxInt64-ttl {
		return math.MaxInt64
	}
	return q.usedAt + ttl
}

// maxLength returns the queue's message-count limit, if any.
func (q *queueState) maxLength() (uint64, bool) {
	if q.spec.MaxLength == nil {
		return 0, false
	}
	return uint64(max(*q.spec.MaxLength, 0)), true
}

// maxBytes returns the queue's ready-bytes limit, if any.
func (q *queueState) maxBytes() (uint64, bool) {
	if q.spec.MaxLengthBytes == nil {
		return 0, false
	}
	return uint64(max(*q.spec.MaxLengthBytes, 0)), true
}

// msgExpired reports whether m has expired at now. A message enqueued by the
// command being applied (index cur) never counts as expired, which is what
// gives a TTL of 0 its meaning: delivered only if a consumer takes it in the
// same command.
func msgExpired(m *queueMsg, now int64, cur uint64) bool {
	return m.expiry != 0 && m.expiry <= now && m.index != cur
}

// msgExpiry computes a new message's expiry from the queue's message TTL and
// the message's own expiration, the smaller of those set, counted from now.
func msgExpiry(spec *fsmpb.QueueSpec, p *fsmpb.Payload, now int64) int64 {
	ttl := int64(-1)
	if spec.MessageTtlMs != nil && *spec.MessageTtlMs >= 0 {
		ttl = *spec.MessageTtlMs
	}
	if e := p.GetProperties().GetExpirationMs(); e > 0 && (ttl < 0 || e < ttl) {
		ttl = e
	}
	if ttl < 0 {
		return 0
	}
	if now > math.MaxInt64-ttl {
		return math.MaxInt64
	}
	// 0 means "never", so a deadline of 0 (now and ttl both 0, before any
	// clock was seen) is stored as 1.
	return max(now+ttl, 1)
}

// deadLetter appends the effect of discarding m, when the queue has a
// dead-letter exchange ("" is the default exchange when the argument was
// given; a spec from before dead_letter_exchange_set has "" for none).
func (q *queueState) deadLetter(m *queueMsg, reason string, res *Result) {
	dlx := q.spec.GetDeadLetterExchange()
	if dlx == "" && !q.spec.GetDeadLetterExchangeSet() {
		return
	}
	p := m.payload(q.spec.GetName())
	key := q.spec.GetDeadLetterRoutingKey()
	if key == "" {
		key = p.GetRoutingKey()
	}
	res.DeadLetters = append(res.DeadLetters, DeadLetter{
		VHost: q.spec.GetVhost(), Exchange: dlx, RoutingKey: key, Reason: reason, Queue: q.spec.GetName(), QueueID: q.spec.GetId(), Payload: p,
		size: uint64(m.size),
	})
}

// Dead-letter reasons, as RabbitMQ names them.
const (
	dlReasonRejected      = "rejected"
	dlReasonExpired       = "expired"
	dlReasonMaxLen        = "maxlen"
	dlReasonDeliveryLimit = "delivery_limit"
)

// requeue puts a message that came back from a consumer or get (returned,
// cancelled, session down, lease expired) at the back of the returns list
// with its delivery count raised, or discards it when that exceeds the
// queue's delivery limit. It reports whether the message was requeued.
func (q *queueState) requeue(m queueMsg, res *Result) bool {
	if m.count < math.MaxUint32 {
		m.count++
	}
	if lim := q.spec.GetDeliveryLimit(); lim > 0 && m.count > lim {
		q.deadLetter(&m, dlReasonDeliveryLimit, res)
		return false
	}
	q.pushReturn(m)
	return true
}

// delivery builds the effect for m delivered to (session, consumerTag).
func (q *queueState) delivery(m *queueMsg, session, consumerTag string, tag uint64) Delivery {
	return Delivery{
		Queue: q.spec.GetId(), QueueName: q.spec.GetName(),
		Session: session, ConsumerTag: consumerTag, Tag: tag,
		MsgID: m.id, DeliveryCount: m.count, Redelivered: m.count > 0 || m.env.GetRedelivered(),
		Payload: m.payload(q.spec.GetName()),
	}
}

// takeOutConsumer removes and returns the outstanding deliveries of c in
// tag order, keeping the unacked count right.
func (q *queueState) takeOutConsumer(c *queueConsumer) []queueMsg {
	tags := sortedTags(c.out)
	out := make([]queueMsg, 0, len(tags))
	for _, t := range tags {
		out = append(out, c.out[t].queueMsg)
	}
	clear(c.out)
	c.low = c.nextTag
	if !c.autoAck {
		q.unacked -= uint64(len(out))
	}
	return out
}

// takeOutHolder removes and returns a get-holder's outstanding gets in tag
// order.
func (q *queueState) takeOutHolder(h *queueGetHolder) []queueMsg {
	tags := sortedTags(h.out)
	out := make([]queueMsg, 0, len(tags))
	for _, t := range tags {
		out = append(out, h.out[t].msg)
	}
	clear(h.out)
	q.unacked -= uint64(len(out))
	return out
}
