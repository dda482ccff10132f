package fsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// DefaultExchange is the name of the default exchange: it delivers to the
// queue whose name equals the routing key.
const DefaultExchange = ""

// builtinExchanges exist from the start and cannot be deleted.
var builtinExchanges = []struct {
	name string
	kind routing.Kind
}{
	{DefaultExchange, routing.Direct},
	{"amq.direct", routing.Direct},
	{"amq.fanout", routing.Fanout},
	{"amq.headers", routing.Headers},
	{"amq.match", routing.Headers},
	{"amq.topic", routing.Topic},
}

// GeneratedQueuePrefix starts the names the server generates for queues
// declared without one; it is the only "amq." name a queue may have.
const GeneratedQueuePrefix = "amq.gen-"

// ExchangeDef describes an exchange.
type ExchangeDef struct {
	VHost string
	Name  string
	// Kind is how the exchange routes: for a delayed exchange, its
	// x-delayed-type.
	Kind       routing.Kind
	AutoDelete bool
	Internal   bool
	Builtin    bool
	Args       map[string]*fsmpb.Value
	// Delayed: kind x-delayed-message (RabbitMQ's delayed-message plugin):
	// a message published to it with an x-delay header is routed once
	// that many milliseconds have passed.
	Delayed bool
}

// DelayedKind is the exchange kind of delayed exchanges.
const DelayedKind = "x-delayed-message"

// KindName is the kind as declared: x-delayed-message for a delayed
// exchange.
func (d ExchangeDef) KindName() string {
	if d.Delayed {
		return DelayedKind
	}
	return d.Kind.String()
}

// ParseExchangeKind is the routing kind and delay of a declared kind: for
// x-delayed-message, the kind its x-delayed-type argument names.
func ParseExchangeKind(kind string, args map[string]*fsmpb.Value) (routing.Kind, bool, error) {
	if kind != DelayedKind {
		k, err := routing.ParseKind(kind)
		return k, false, err
	}
	t, _ := args["x-delayed-type"].GetKind().(*fsmpb.Value_StringValue)
	if t == nil {
		return 0, false, fmt.Errorf("exchange kind %s needs the argument x-delayed-type (direct, topic, fanout or headers)", DelayedKind)
	}
	k, err := routing.ParseKind(t.StringValue)
	if err != nil {
		return 0, false, fmt.Errorf("x-delayed-type: %v", err)
	}
	return k, true, nil
}

// QueueDef describes a queue and its placement. Spec is what the queue's
// group needs to create the queue's state.
type QueueDef struct {
	ID           uint64
	VHost        string
	Name         string
	Group        uint32
	Exclusive    bool
	AutoDelete   bool
	OwnerSession string
	Args         map[string]*fsmpb.Value
	Spec         *fsmpb.QueueSpec
	// ArgsLevel is the declaration's args_level: how Spec was made of Args.
	ArgsLevel uint32
}

// BindingDef describes one binding of an exchange (the source) to a queue
// or, when ToExchange, to another exchange (the destination), both in
// VHost.
type BindingDef struct {
	VHost    string
	Exchange string
	// Queue is the destination's name: a queue's, or an exchange's when
	// ToExchange.
	Queue      string
	ToExchange bool
	Key        string
	Args       map[string]*fsmpb.Value
}

// DroppedQueue names a queue whose deletion committed, so that its group
// can drop the queue's state.
type DroppedQueue struct {
	ID    uint64
	VHost string
	Name  string
	Group uint32
}

type exchange struct {
	def      ExchangeDef
	table    *routing.Table
	bindings map[bindingID]BindingDef
}

// bindingID is a binding's identity within one exchange; args are in their
// canonical (deterministic proto) encoding.
type bindingID struct {
	queue, key, args string
	// toExchange: queue names an exchange.
	toExchange bool
}

// bindingRef names one binding: its exchange (by key) and its identity
// there.
type bindingRef struct {
	exchange string
	id       bindingID
}

// queueKey is the key of the queue (or destination exchange) a binding
// targets: in the exchange's virtual host.
func (r bindingRef) queueKey() string { return objectKey(vhostOfKey(r.exchange), r.id.queue) }

// tableDest is a binding's destination as the source's routing table holds
// it: its kind, one byte, then its name, so that a queue and an exchange
// of one name stay apart (a name may hold any byte).
func tableDest(name string, toExchange bool) string {
	if toExchange {
		return "e" + name
	}
	return "q" + name
}

// objectKey is the key of the exchange or queue name in vhost in the
// state's maps: the vhost, a NUL, the name. A virtual host name cannot hold
// a NUL (validVHost), so a key splits at its first NUL; "" is the default
// vhost.
func objectKey(vhost, name string) string { return vhostName(vhost) + "\x00" + name }

// vhostOfKey is the virtual host of an object key.
func vhostOfKey(key string) string {
	v, _, _ := strings.Cut(key, "\x00")
	return v
}

// vhostName is the virtual host a command's vhost field names: "" is the
// default one (commands written before virtual hosts existed).
func vhostName(v string) string {
	if v == "" {
		return DefaultVHost
	}
	return v
}

func (d ExchangeDef) key() string { return objectKey(d.VHost, d.Name) }
func (q *QueueDef) key() string   { return objectKey(q.VHost, q.Name) }

// Meta is the state of the meta group: exchanges, bindings, queues and the
// placement of queues on queue groups. It is deterministic. Not safe for
// concurrent use: the caller serialises Apply against reads.
//
// Two indexes, kept by every command and rebuilt on restore (they are not
// in the snapshot), make a command cost what it touches rather than the
// size of the state: owners (session → its exclusive queues) for ended
// sessions, and queueBindings (queue → its bindings) for deleted queues.
type Meta struct {
	groups    uint32
	exchanges map[string]*exchange
	queues    map[string]*QueueDef
	perGroup  []int
	lastIndex uint64

	// owners maps the owner session of exclusive queues to their names.
	// Every exclusive queue is listed under its OwnerSession, and a session
	// is listed only while it owns one.
	owners map[string]map[string]struct{}
	// queueBindings maps a queue to its bindings on every exchange; a queue
	// is listed only while it has one.
	queueBindings map[string]map[bindingRef]struct{}
	// exchangeBindings maps an exchange to the bindings that lead to it (it
	// is their destination); an exchange is listed only while it has one.
	exchangeBindings map[string]map[bindingRef]struct{}

	// access holds users, permissions and virtual hosts.
	access access
	// objects indexes each virtual host's exchanges and queues (by name)
	// and counts its bindings, for its listings, limits and deletion.
	objects map[string]*vhostObjects
}

// NewMeta returns the initial state, with the built-in exchanges. Queues
// declared later are spread over groups queue groups (numbered from 0).
func NewMeta(groups int) *Meta {
	if groups < 1 {
		groups = 1
	}
	m := &Meta{
		groups:    uint32(groups),
		exchanges: map[string]*exchange{},
		queues:    map[string]*QueueDef{},
		perGroup:  make([]int, groups),

		owners:           map[string]map[string]struct{}{},
		queueBindings:    map[string]map[bindingRef]struct{}{},
		exchangeBindings: map[string]map[bindingRef]struct{}{},
		access:           newAccess(),
		objects:          map[string]*vhostObjects{},
	}
	m.addBuiltins(DefaultVHost)
	return m
}

// addBuiltins creates the built-in exchanges of a virtual host.
func (m *Meta) addBuiltins(vhost string) {
	for _, b := range builtinExchanges {
		m.addExchange(newExchange(ExchangeDef{VHost: vhost, Name: b.name, Kind: b.kind, Builtin: true}))
	}
}

func newExchange(def ExchangeDef) *exchange {
	return &exchange{def: def, table: routing.NewTable(def.Kind), bindings: map[bindingID]BindingDef{}}
}

// LastIndex is the Raft index of the last command applied.
func (m *Meta) LastIndex() uint64 { return m.lastIndex }

// Apply applies one command, given by its body (as Decode returns it), at
// Raft index index. Domain errors are returned in Result.Err; the state is
// unchanged by a failed command (but for LastIndex). A queue command, a nil
// body or a message that is no command yields Err wrapping
// ErrUnknownCommand; a typed nil body (say (*fsmpb.Bind)(nil)), Err wrapping
// ErrBadCommand.
//
// Every command is checked against the limits of limits.go (names, sizes,
// kinds, references) before it changes anything, as the API edge checks
// requests, because a command can reach the log without passing the edge: a
// command past a limit is refused with Err wrapping ErrInvalid, the same on
// every replica. A delete (DeleteExchange, DeleteQueue, MetaSessionDown)
// that names an object that exists is applied whatever the name's form, so
// that an object created before the log enforced the limits can still go.
func (m *Meta) Apply(index uint64, cmd proto.Message) *Result {
	if index > m.lastIndex {
		m.lastIndex = index
	}
	if err := checkBody(cmd, true); err != nil {
		return &Result{Err: err}
	}
	switch body := cmd.(type) {
	case *fsmpb.DeclareExchange:
		return m.applyDeclareExchange(body)
	case *fsmpb.DeleteExchange:
		return m.applyDeleteExchange(body)
	case *fsmpb.DeclareQueue:
		return m.applyDeclareQueue(index, body)
	case *fsmpb.DeleteQueue:
		return m.applyDeleteQueue(body)
	case *fsmpb.Bind:
		return m.applyBind(body)
	case *fsmpb.Unbind:
		return m.applyUnbind(body)
	case *fsmpb.MetaSessionDown:
		return m.applySessionDown(body)
	}
	switch body := cmd.(type) {
	case *fsmpb.AddVHost:
		return m.applyAddVHost(body)
	case *fsmpb.DeleteVHost:
		return m.applyDeleteVHost(body)
	case *fsmpb.SetVHostLimits:
		return m.applySetVHostLimits(body)
	}
	if res, ok := m.access.apply(index, cmd); ok {
		return res
	}
	// A meta command type that commandType knows and this switch does not:
	// TestCodecRejectsUnknownAndMismatched catches it.
	return &Result{Err: fmt.Errorf("%w: %T is not handled by the meta group", ErrUnknownCommand, cmd)}
}

func fail(format string, args ...any) *Result {
	return &Result{Err: fmt.Errorf(format, args...)}
}

// refuse is the Result of a command that failed a check.
func refuse(err error) *Result { return &Result{Err: err} }

func (m *Meta) applyDeclareExchange(c *fsmpb.DeclareExchange) *Result {
	// "" is the default exchange: declaring it as it is succeeds.
	if err := ValidKey("exchange name", c.GetName()); err != nil {
		return refuse(err)
	}
	if err := validText("exchange kind", c.GetKind(), MaxNameBytes, false); err != nil {
		return refuse(err)
	}
	if c.GetKind() != DelayedKind {
		// The kind before the arguments, as before delayed exchanges.
		if _, err := routing.ParseKind(c.GetKind()); err != nil {
			return fail("%w: %v", ErrInvalid, err)
		}
	}
	if err := ValidArgs("exchange arguments", c.GetArguments()); err != nil {
		return refuse(err)
	}
	kind, delayed, err := ParseExchangeKind(c.GetKind(), c.GetArguments())
	if err != nil {
		return fail("%w: %v", ErrInvalid, err)
	}
	vhost := vhostName(c.GetVhost())
	if res := m.checkVHost(vhost); res != nil {
		return res
	}
	if ex, ok := m.exchanges[objectKey(vhost, c.GetName())]; ok {
		d := ex.def
		if d.Kind != kind || d.Delayed != delayed || d.AutoDelete != c.GetAutoDelete() || d.Internal != c.GetInternal() || !argsEqual(d.Args, c.GetArguments()) {
			return fail("%w: exchange %q exists as %s (auto_delete=%t, internal=%t) with other properties than declared",
				ErrExists, d.Name, d.KindName(), d.AutoDelete, d.Internal)
		}
		return &Result{}
	}
	if c.GetName() == DefaultExchange || strings.HasPrefix(c.GetName(), "amq.") {
		return fail("%w: exchange names starting with \"amq.\" are reserved", ErrInvalid)
	}
	// The built-in exchanges do not count against max-exchanges.
	declared := len(m.vhostObjects(vhost).exchanges) - len(builtinExchanges)
	if res := m.checkLimit(vhost, "exchanges", declared, m.access.limits(vhost).MaxExchanges); res != nil {
		return res
	}
	m.addExchange(newExchange(ExchangeDef{
		VHost: vhost, Name: c.GetName(), Kind: kind, AutoDelete: c.GetAutoDelete(), Internal: c.GetInternal(), Args: cloneArgs(c.GetArguments()), Delayed: delayed,
	}))
	return &Result{Created: true}
}

func (m *Meta) applyDeleteExchange(c *fsmpb.DeleteExchange) *Result {
	ex, ok := m.exchanges[objectKey(c.GetVhost(), c.GetName())]
	if !ok {
		if err := ValidKey("exchange name", c.GetName()); err != nil {
			return refuse(err)
		}
		return fail("%w: no exchange %q", ErrNotFound, c.GetName())
	}
	if ex.def.Builtin {
		return fail("%w: exchange %q is built in and cannot be deleted", ErrInvalid, c.GetName())
	}
	if c.GetIfUnused() && len(ex.bindings) > 0 {
		return fail("%w: exchange %q has %d bindings (if-unused)", ErrPrecondition, c.GetName(), len(ex.bindings))
	}
	m.removeExchange(ex)
	return &Result{}
}

// checkDeclareQueue checks what a DeclareQueue carries, whatever the state:
// the queue's name, the owner session (required for an exclusive queue),
// the arguments, and the dead-letter exchange and routing key among them.
func checkDeclareQueue(c *fsmpb.DeclareQueue) error {
	if c.GetName() == "" {
		return fmt.Errorf("%w: a queue needs a name", ErrInvalid)
	}
	if err := ValidName("queue name", c.GetName()); err != nil {
		return err
	}
	if c.GetExclusive() && c.GetOwnerSession() == "" {
		return fmt.Errorf("%w: an exclusive queue needs a session", ErrInvalid)
	}
	if err := validText("owner session", c.GetOwnerSession(), MaxSessionIDBytes, true); err != nil {
		return err
	}
	if err := ValidArgs("queue arguments", c.GetArguments()); err != nil {
		return err
	}
	// The dead-letter arguments name an exchange and a routing key.
	for _, a := range [...]struct{ arg, what string }{
		{"dead-letter-exchange", "dead-letter exchange"}, {"dead-letter-routing-key", "dead-letter routing key"},
	} {
		for _, k := range [...]string{a.arg, "x-" + a.arg} {
			if v, ok := c.GetArguments()[k].GetKind().(*fsmpb.Value_StringValue); ok {
				if err := ValidKey(a.what, v.StringValue); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (m *Meta) applyDeclareQueue(index uint64, c *fsmpb.DeclareQueue) *Result {
	if err := checkDeclareQueue(c); err != nil {
		return refuse(err)
	}
	name, vhost := c.GetName(), vhostName(c.GetVhost())
	if res := m.checkVHost(vhost); res != nil {
		return res
	}
	if q, ok := m.queues[objectKey(vhost, name)]; ok {
		if q.Exclusive && q.OwnerSession != c.GetOwnerSession() {
			return fail("%w: queue %q is exclusive to another session", ErrPrecondition, name)
		}
		if q.Exclusive != c.GetExclusive() || q.AutoDelete != c.GetAutoDelete() || !argsEqual(q.Args, c.GetArguments()) {
			return fail("%w: queue %q exists with other properties (exclusive=%t, auto_delete=%t, %d arguments)",
				ErrExists, name, q.Exclusive, q.AutoDelete, len(q.Args))
		}
		return &Result{QueueID: q.ID, QueueName: name}
	}
	if strings.HasPrefix(name, "amq.") && !strings.HasPrefix(name, GeneratedQueuePrefix) {
		return fail("%w: queue names starting with \"amq.\" are reserved", ErrInvalid)
	}
	if res := m.checkLimit(vhost, "queues", len(m.vhostObjects(vhost).queues), m.access.limits(vhost).MaxQueues); res != nil {
		return res
	}
	spec, err := QueueSpecFromArgs(index, name, c.GetArguments(), c.GetArgsLevel())
	if err != nil {
		return &Result{Err: err}
	}
	spec.Vhost = recordVHost(vhost)
	spec.DeadLetterStrategy = c.GetDeadLetterStrategy()
	q := &QueueDef{
		ID: index, VHost: vhost, Name: name, Group: m.leastLoadedGroup(), Exclusive: c.GetExclusive(), AutoDelete: c.GetAutoDelete(),
		Args: cloneArgs(c.GetArguments()), Spec: spec, ArgsLevel: c.GetArgsLevel(),
	}
	if q.Exclusive {
		q.OwnerSession = c.GetOwnerSession()
	}
	m.addQueue(q)
	return &Result{QueueID: q.ID, QueueName: name, Created: true}
}

// addQueue stores a new queue and indexes it (group count, owner).
func (m *Meta) addQueue(q *QueueDef) {
	m.queues[q.key()] = q
	m.vhostObjects(q.VHost).queues[q.Name] = struct{}{}
	if int(q.Group) < len(m.perGroup) {
		m.perGroup[q.Group]++
	}
	if q.Exclusive {
		set := m.owners[q.OwnerSession]
		if set == nil {
			set = map[string]struct{}{}
			m.owners[q.OwnerSession] = set
		}
		set[q.key()] = struct{}{}
	}
}

// leastLoadedGroup places a new queue on the group with the fewest queues,
// the lowest number winning ties, so placement is a function of the log.
func (m *Meta) leastLoadedGroup() uint32 {
	best := uint32(0)
	for g := uint32(1); g < m.groups; g++ {
		if m.perGroup[g] < m.perGroup[best] {
			best = g
		}
	}
	return best
}

func (m *Meta) applyDeleteQueue(c *fsmpb.DeleteQueue) *Result {
	q, ok := m.queues[objectKey(c.GetVhost(), c.GetName())]
	if !ok {
		if err := ValidName("queue name", c.GetName()); err != nil {
			return refuse(err)
		}
		return fail("%w: no queue %q", ErrNotFound, c.GetName())
	}
	m.removeQueue(q)
	return &Result{QueueID: q.ID, QueueName: q.Name, DroppedQueues: []DroppedQueue{q.dropped()}}
}

// removeQueue deletes a queue and every binding to it, then any
// auto-delete exchange left without bindings by that. It costs the queue's
// bindings, not the state's: queueBindings lists them.
func (m *Meta) removeQueue(q *QueueDef) {
	key := q.key()
	delete(m.queues, key)
	m.unindexObject(q.VHost, func(o *vhostObjects) { delete(o.queues, q.Name) })
	if int(q.Group) < len(m.perGroup) {
		m.perGroup[q.Group]--
	}
	if q.Exclusive {
		if set := m.owners[q.OwnerSession]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(m.owners, q.OwnerSession)
			}
		}
	}
	refs := m.queueBindings[key]
	if len(refs) == 0 {
		return
	}
	delete(m.queueBindings, key)
	exchanges := make([]string, 0, len(refs))
	for r := range refs {
		delete(m.exchanges[r.exchange].bindings, r.id)
		exchanges = append(exchanges, r.exchange)
	}
	m.countBindings(q.VHost, -len(refs))
	// Exchanges in name order, each once: the routing tables' layout and
	// the auto-deletes must not depend on map order.
	slices.Sort(exchanges)
	for _, name := range slices.Compact(exchanges) {
		ex := m.exchanges[name]
		ex.table.UnbindQueue(tableDest(q.Name, false))
		m.autoDeleteIfUnused(ex)
	}
}

// applySessionDown deletes the exclusive queues of the ended sessions, in
// name order. It costs the sessions listed and the queues they own (found
// in owners), not the number of queues: a session that owns nothing costs
// a map lookup. A session id is checked against the limits only when it
// owns nothing (an owner's id is in the state already).
func (m *Meta) applySessionDown(c *fsmpb.MetaSessionDown) *Result {
	sessions := c.GetSessions()
	if len(sessions) > MaxSessionsPerCommand {
		return fail("%w: meta session down lists %d sessions; the limit is %d", ErrInvalid, len(sessions), MaxSessionsPerCommand)
	}
	var names []string
	for i, s := range sessions {
		owned, ok := m.owners[s]
		if !ok {
			if p := textProblem(s, MaxSessionIDBytes, false); p != "" {
				return fail("%w: meta session down: sessions[%d] %s", ErrInvalid, i, p)
			}
			continue
		}
		for name := range owned {
			names = append(names, name)
		}
	}
	// Sorted, and once each even if a session is listed twice.
	slices.Sort(names)
	names = slices.Compact(names)
	res := &Result{}
	for _, key := range names {
		q := m.queues[key]
		m.removeQueue(q)
		res.DroppedQueues = append(res.DroppedQueues, q.dropped())
	}
	return res
}
