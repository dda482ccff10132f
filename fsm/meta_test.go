package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// metaLog applies commands to m with increasing indexes and returns the
// results.
type metaLog struct {
	t     *testing.T
	m     *Meta
	index uint64
}

func newMetaLog(t *testing.T, groups int) *metaLog {
	return &metaLog{t: t, m: NewMeta(groups)}
}

func (l *metaLog) apply(body proto.Message) *Result {
	l.t.Helper()
	l.index++
	// Go through the codec, as the Raft adapter does.
	data, err := Encode(body)
	if err != nil {
		l.t.Fatalf("encode: %v", err)
	}
	dec, err := Decode(data)
	if err != nil {
		l.t.Fatalf("decode: %v", err)
	}
	return l.m.Apply(l.index, dec)
}

func (l *metaLog) must(body proto.Message) *Result {
	l.t.Helper()
	res := l.apply(body)
	if res.Err != nil {
		l.t.Fatalf("command %T: %v", body, res.Err)
	}
	return res
}

func str(s string) *fsmpb.Value { return &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: s}} }
func num(n int64) *fsmpb.Value  { return &fsmpb.Value{Kind: &fsmpb.Value_IntValue{IntValue: n}} }

func routeNames(t *testing.T, m *Meta, ex, key string, headers map[string]routing.Value) []string {
	t.Helper()
	qs, err := m.Route("", ex, key, headers)
	if err != nil {
		t.Fatalf("route %q %q: %v", ex, key, err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	return names
}

func TestMetaBuiltinExchanges(t *testing.T) {
	m := NewMeta(4)
	for _, name := range []string{"", "amq.direct", "amq.topic", "amq.fanout", "amq.headers", "amq.match"} {
		ex, ok := m.Exchange("", name)
		if !ok || !ex.Builtin {
			t.Errorf("built-in exchange %q missing", name)
		}
	}
	l := &metaLog{t: t, m: m}
	if res := l.apply(&fsmpb.DeleteExchange{Name: "amq.topic"}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("deleting amq.topic: %v, want ErrInvalid", res.Err)
	}
	if res := l.apply(&fsmpb.DeclareExchange{Name: "amq.custom", Kind: "direct"}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("declaring amq.custom: %v, want ErrInvalid", res.Err)
	}
	if res := l.apply(&fsmpb.DeclareExchange{Name: "amq.topic", Kind: "topic"}); res.Err != nil {
		t.Errorf("re-declaring amq.topic as topic: %v", res.Err)
	}
	if res := l.apply(&fsmpb.DeclareExchange{Name: "amq.topic", Kind: "direct"}); !errors.Is(res.Err, ErrExists) {
		t.Errorf("re-declaring amq.topic as direct: %v, want ErrExists", res.Err)
	}
}

func TestMetaRedeclare(t *testing.T) {
	l := newMetaLog(t, 2)
	l.must(&fsmpb.DeclareExchange{Name: "logs", Kind: "fanout"})
	if res := l.must(&fsmpb.DeclareExchange{Name: "logs", Kind: "fanout"}); res.Created {
		t.Error("identical re-declare reported Created")
	}
	if res := l.apply(&fsmpb.DeclareExchange{Name: "logs", Kind: "topic"}); !errors.Is(res.Err, ErrExists) {
		t.Errorf("other kind: %v, want ErrExists", res.Err)
	}
	if res := l.apply(&fsmpb.DeclareExchange{Name: "x", Kind: "bogus"}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("bad kind: %v, want ErrInvalid", res.Err)
	}
	first := l.must(&fsmpb.DeclareQueue{Name: "jobs", Arguments: map[string]*fsmpb.Value{"x-max-length": num(10)}})
	again := l.must(&fsmpb.DeclareQueue{Name: "jobs", Arguments: map[string]*fsmpb.Value{"x-max-length": num(10)}})
	if again.QueueID != first.QueueID || again.Created {
		t.Errorf("identical re-declare: id %d created %t, want id %d not created", again.QueueID, again.Created, first.QueueID)
	}
	for _, bad := range []*fsmpb.DeclareQueue{
		{Name: "jobs"},
		{Name: "jobs", Arguments: map[string]*fsmpb.Value{"x-max-length": num(11)}},
		{Name: "jobs", AutoDelete: true, Arguments: map[string]*fsmpb.Value{"x-max-length": num(10)}},
	} {
		if res := l.apply(bad); !errors.Is(res.Err, ErrExists) {
			t.Errorf("re-declare %v: %v, want ErrExists", bad, res.Err)
		}
	}
	if res := l.apply(&fsmpb.DeclareQueue{Name: "q2", Arguments: map[string]*fsmpb.Value{"x-max-length": str("ten")}}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("string max-length: %v, want ErrInvalid", res.Err)
	}
	if res := l.apply(&fsmpb.DeclareQueue{Name: "q3", Arguments: map[string]*fsmpb.Value{"x-overflow": str("sideways")}}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("bad overflow: %v, want ErrInvalid", res.Err)
	}
}

func TestMetaPlacementSpreadsQueues(t *testing.T) {
	l := newMetaLog(t, 4)
	count := make([]int, 4)
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		l.must(&fsmpb.DeclareQueue{Name: name})
		q, _ := l.m.Queue("", name)
		count[q.Group]++
	}
	for g, n := range count {
		if n != 2 {
			t.Errorf("group %d holds %d queues, want 2 (counts %v)", g, n, count)
		}
	}
}

func TestMetaBindAndRoute(t *testing.T) {
	l := newMetaLog(t, 4)
	for _, q := range []string{"q1", "q2"} {
		l.must(&fsmpb.DeclareQueue{Name: q})
	}
	l.must(&fsmpb.DeclareExchange{Name: "events", Kind: "topic"})
	l.must(&fsmpb.Bind{Exchange: "events", Queue: "q1", Key: "a.*"})
	l.must(&fsmpb.Bind{Exchange: "events", Queue: "q1", Key: "#"})
	l.must(&fsmpb.Bind{Exchange: "events", Queue: "q2", Key: "a.b"})

	if got := routeNames(t, l.m, "events", "a.b", nil); len(got) != 2 || got[0] != "q1" || got[1] != "q2" {
		t.Errorf("a.b routed to %v, want [q1 q2] (q1 once although two bindings match)", got)
	}
	if got := routeNames(t, l.m, "", "q2", nil); len(got) != 1 || got[0] != "q2" {
		t.Errorf("default exchange routed q2 to %v", got)
	}
	if got := routeNames(t, l.m, "", "nope", nil); len(got) != 0 {
		t.Errorf("default exchange routed unknown key to %v", got)
	}
	if _, err := l.m.Route("", "missing", "k", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("route via missing exchange: %v, want ErrNotFound", err)
	}
	if res := l.apply(&fsmpb.Bind{Exchange: "", Queue: "q1", Key: "x"}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("bind default exchange: %v, want ErrInvalid", res.Err)
	}
	if res := l.apply(&fsmpb.Bind{Exchange: "events", Queue: "ghost", Key: "x"}); !errors.Is(res.Err, ErrNotFound) {
		t.Errorf("bind missing queue: %v, want ErrNotFound", res.Err)
	}
	if res := l.apply(&fsmpb.Bind{Exchange: "ghost", Queue: "q1", Key: "x"}); !errors.Is(res.Err, ErrNotFound) {
		t.Errorf("bind missing exchange: %v, want ErrNotFound", res.Err)
	}

	l.must(&fsmpb.DeleteQueue{Name: "q1"})
	if got := l.m.Bindings("", "events", ""); len(got) != 1 || got[0].Queue != "q2" {
		t.Errorf("bindings after deleting q1: %v, want only q2's", got)
	}
	if got := routeNames(t, l.m, "events", "a.b", nil); len(got) != 1 || got[0] != "q2" {
		t.Errorf("after delete, a.b routed to %v, want [q2]", got)
	}
	if res := l.apply(&fsmpb.DeleteExchange{Name: "events", IfUnused: true}); !errors.Is(res.Err, ErrPrecondition) {
		t.Errorf("delete if-unused with bindings: %v, want ErrPrecondition", res.Err)
	}
}

func TestMetaAutoDeleteExchange(t *testing.T) {
	l := newMetaLog(t, 1)
	l.must(&fsmpb.DeclareQueue{Name: "q"})
	l.must(&fsmpb.DeclareExchange{Name: "tmp", Kind: "direct", AutoDelete: true})
	l.must(&fsmpb.Bind{Exchange: "tmp", Queue: "q", Key: "k"})
	l.must(&fsmpb.Unbind{Exchange: "tmp", Queue: "q", Key: "k"})
	if _, ok := l.m.Exchange("", "tmp"); ok {
		t.Error("auto-delete exchange survived losing its last binding")
	}
}

func TestMetaExclusiveQueues(t *testing.T) {
	l := newMetaLog(t, 2)
	l.must(&fsmpb.DeclareQueue{Name: "mine", Exclusive: true, OwnerSession: "s1"})
	if res := l.apply(&fsmpb.DeclareQueue{Name: "mine", Exclusive: true, OwnerSession: "s2"}); !errors.Is(res.Err, ErrPrecondition) {
		t.Errorf("other session re-declaring an exclusive queue: %v, want ErrPrecondition", res.Err)
	}
	res := l.must(&fsmpb.MetaSessionDown{Sessions: []string{"s1"}})
	if len(res.DroppedQueues) != 1 || res.DroppedQueues[0].Name != "mine" {
		t.Fatalf("dropped %v, want [mine]", res.DroppedQueues)
	}
	if _, ok := l.m.Queue("", "mine"); ok {
		t.Error("exclusive queue survived its session")
	}
}

func TestMetaSnapshotRoundTrip(t *testing.T) {
	l := newMetaLog(t, 3)
	l.must(&fsmpb.DeclareExchange{Name: "h", Kind: "headers", Arguments: map[string]*fsmpb.Value{"note": str("x")}})
	l.must(&fsmpb.DeclareQueue{Name: "q1", Arguments: map[string]*fsmpb.Value{"x-message-ttl": num(1000)}})
	l.must(&fsmpb.DeclareQueue{Name: "q2", Exclusive: true, OwnerSession: "s"})
	l.must(&fsmpb.Bind{Exchange: "h", Queue: "q1", Arguments: map[string]*fsmpb.Value{"x-match": str("any"), "a": num(1), "b": {}}})
	l.must(&fsmpb.Bind{Exchange: "amq.topic", Queue: "q2", Key: "x.#"})

	var first bytes.Buffer
	if err := l.m.WriteSnapshot(&first); err != nil {
		t.Fatal(err)
	}
	restored, err := RestoreMeta(bytes.NewReader(first.Bytes()), 3)
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := restored.WriteSnapshot(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("snapshot → restore → snapshot is not byte-identical")
	}
	hdr := map[string]routing.Value{"b": {Type: routing.ValueString, Str: "anything"}}
	if got := routeNames(t, restored, "h", "", hdr); len(got) != 1 || got[0] != "q1" {
		t.Errorf("restored headers routing gave %v, want [q1]", got)
	}
	// The next declaration lands the same way on both.
	next := &fsmpb.DeclareQueue{Name: "q3"}
	a := l.must(next)
	b := restored.Apply(l.index, next)
	qa, _ := l.m.Queue("", "q3")
	qb, _ := restored.Queue("", "q3")
	if b.Err != nil || a.QueueID != b.QueueID || qa.Group != qb.Group {
		t.Errorf("after restore, q3 placed differently: %v/%v group %d vs %d", a, b, qa.Group, qb.Group)
	}
	for _, garbage := range [][]byte{nil, []byte("WMS"), append(first.Bytes()[:len(first.Bytes())-1], 0)} {
		if _, err := RestoreMeta(bytes.NewReader(garbage), 3); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("restore of %d garbage bytes: %v, want ErrBadSnapshot", len(garbage), err)
		}
	}
}

// TestCodecRejectsUnknownAndMismatched checks the codec and the type tables:
// Decode refuses an unknown type or envelope version; Encode, which derives
// the type from the body (a body cannot mismatch its type any more), refuses
// a body that is no command and a typed nil; newBody and commandType are
// inverses; and Meta handles exactly the meta types.
func TestCodecRejectsUnknownAndMismatched(t *testing.T) {
	if _, err := Decode([]byte{1, 99}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := Decode([]byte{2, byte(CmdBind)}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("unknown envelope version: %v", err)
	}
	for _, body := range []proto.Message{nil, &fsmpb.Payload{}, &fsmpb.MetaSnapshot{}} {
		if _, err := Encode(body); !errors.Is(err, ErrUnknownCommand) {
			t.Errorf("encode of %T: %v, want ErrUnknownCommand", body, err)
		}
		if IsMeta(body) {
			t.Errorf("IsMeta(%T) = true", body)
		}
		if res := NewMeta(1).Apply(1, body); !errors.Is(res.Err, ErrUnknownCommand) {
			t.Errorf("meta apply of %T: %v, want ErrUnknownCommand", body, res.Err)
		}
	}
	if _, err := Encode((*fsmpb.Bind)(nil)); !errors.Is(err, ErrBadCommand) {
		t.Errorf("typed nil body: %v", err)
	}
	// The wire format: [envelope version][type][deterministic proto].
	if got, err := Encode(&fsmpb.Tick{NowMs: 5}); err != nil || !bytes.Equal(got, []byte{1, byte(CmdTick), 0x08, 0x05}) {
		t.Errorf("encode of Tick{NowMs: 5}: %x, %v", got, err)
	}
	if got, err := Encode(&fsmpb.DeleteQueue{Name: "q"}); err != nil || !bytes.Equal(got, []byte{1, byte(CmdDeleteQueue), 0x0a, 0x01, 'q'}) {
		t.Errorf("encode of DeleteQueue{Name: q}: %x, %v", got, err)
	}
	for _, ct := range AllCommandTypes() {
		if newBody(ct) == nil {
			t.Errorf("command type %d has no body type", ct)
			continue
		}
		if got, ok := commandType(newBody(ct)); !ok || got != ct {
			t.Errorf("command type %d: body %T gives type %d (%t)", ct, newBody(ct), got, ok)
		}
		if IsMeta(newBody(ct)) != ct.IsMeta() || IsMeta(nilBody(ct)) != ct.IsMeta() {
			t.Errorf("command type %d: IsMeta(body) = %t, CommandType.IsMeta = %t", ct, IsMeta(newBody(ct)), ct.IsMeta())
		}
		data, err := Encode(newBody(ct))
		if err != nil || len(data) < 2 || data[0] != envelopeVersion || data[1] != byte(ct) {
			t.Errorf("command type %d: encoded as %x, %v", ct, data, err)
		} else if dec, err := Decode(data); err != nil || reflect.TypeOf(dec) != reflect.TypeOf(newBody(ct)) {
			t.Errorf("command type %d: decoded as %T, %v", ct, dec, err)
		}
		m := NewMeta(1)
		res := m.Apply(1, newBody(ct))
		isMetaHandled := res.Err == nil || !errors.Is(res.Err, ErrUnknownCommand)
		if ct.IsMeta() != isMetaHandled {
			t.Errorf("command type %d: meta handles it = %t, IsMeta = %t", ct, isMetaHandled, ct.IsMeta())
		}
		// A typed nil body never panics: a meta type is malformed, a queue
		// type unknown to Meta.
		want := ErrUnknownCommand
		if ct.IsMeta() {
			want = ErrBadCommand
		}
		if res := m.Apply(2, nilBody(ct)); !errors.Is(res.Err, want) {
			t.Errorf("command type %d with a typed nil body: %v, want %v", ct, res.Err, want)
		}
	}
}
