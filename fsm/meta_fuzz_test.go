package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// fuzzMetaGroups is the number of queue groups of the fuzzed Meta: more
// than one, so placement is exercised.
const fuzzMetaGroups = 3

// FuzzMetaApply decodes arbitrary bytes as a log — entries framed as
// [uvarint length][entry], each entry decoded with the fsm codec, as the
// Raft adapter does — and applies what decodes to two replicas of Meta. An
// entry Decode refuses is decoded again without protobuf's UTF-8 check
// (decodeLenient), as a body built in Go could be, and applied if that
// parses. It must never panic; both replicas must give identical results;
// a command refused (Result.Err) must leave the snapshot as it was; after
// every command the state must hold its invariants (checkMetaInvariants,
// the indexes included); at the end the snapshot must restore to a state
// that writes the same bytes and places the next queue the same way.
func FuzzMetaApply(f *testing.F) {
	for _, s := range metaLogSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := NewMeta(fuzzMetaGroups), NewMeta(fuzzMetaGroups)
		for idx := uint64(1); len(data) > 0; idx++ {
			n, k := binary.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				break
			}
			entry := data[k : k+int(n)]
			data = data[k+int(n):]
			decode := Decode
			cmd, err := Decode(entry)
			if err != nil {
				decode = decodeLenient
				if cmd, err = decodeLenient(entry); err != nil {
					continue
				}
			}
			before := metaSnapshotAt(t, a, idx)
			ra := a.Apply(idx, cmd)
			cmd2, _ := decode(entry) // a fresh copy: replicas share nothing
			rb := b.Apply(idx, cmd2)
			if na, nb := normMeta(ra), normMeta(rb); !reflect.DeepEqual(na, nb) {
				t.Fatalf("entry %d: replicas differ\n%+v\n%+v", idx, na, nb)
			}
			if ra.Err != nil && !bytes.Equal(before, metaSnapshotBytes(t, a)) {
				t.Fatalf("entry %d (%T) was refused (%v) but changed the state", idx, cmd, ra.Err)
			}
			if err := checkMetaInvariants(a, true); err != nil {
				t.Fatalf("after entry %d (%T, result %v): %v", idx, cmd, ra.Err, err)
			}
		}
		sa := metaSnapshotBytes(t, a)
		if !bytes.Equal(sa, metaSnapshotBytes(t, b)) {
			t.Fatal("replica snapshots differ")
		}
		r := restoreMetaRoundTrip(t, sa)
		if !reflect.DeepEqual(metaView(a), metaView(r)) {
			t.Fatalf("restored state differs:\n%+v\n%+v", metaView(a), metaView(r))
		}
		// The next declaration lands the same way on the live and the
		// restored state (placement depends only on the state).
		next := a.LastIndex() + 1
		probe := &fsmpb.DeclareQueue{Name: "fuzz-probe-after-restore"}
		pa := a.Apply(next, probe)
		pr := r.Apply(next, proto.Clone(probe))
		if !reflect.DeepEqual(normMeta(pa), normMeta(pr)) {
			t.Fatalf("probe declare after restore differs: %+v vs %+v", normMeta(pa), normMeta(pr))
		}
		if qa, ok := a.Queue("", probe.Name); ok {
			if qr, _ := r.Queue("", probe.Name); qr == nil || qa.Group != qr.Group {
				t.Fatalf("probe queue placed in group %d live, %v restored", qa.Group, qr)
			}
		}
	})
}

// FuzzRestoreMeta feeds arbitrary bytes to RestoreMeta: it must never
// panic, and what it refuses must be an error wrapping ErrBadSnapshot.
// Each input is also tried as the body of a well-framed snapshot (magic,
// length, CRC), so the fuzzer gets past the checksum into the proto decoder
// and the record checks. A state that restores must hold the invariants
// that a snapshot can promise, and write a snapshot that restores to the
// same bytes.
func FuzzRestoreMeta(f *testing.F) {
	for _, s := range metaSnapshotSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exerciseRestoredMeta(t, data)
		exerciseRestoredMeta(t, frameMetaSnapshot(data))
	})
}

func exerciseRestoredMeta(t *testing.T, data []byte) {
	m, err := RestoreMeta(bytes.NewReader(data), fuzzMetaGroups)
	if err != nil {
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("restore refused with %v, which does not wrap ErrBadSnapshot", err)
		}
		return
	}
	// A snapshot names each queue's group, and it is kept even when it is
	// out of range for this node's group count (checked by the caller), so
	// the placement invariant is not required of a restored state.
	if err := checkMetaInvariants(m, false); err != nil {
		t.Fatalf("restored state: %v", err)
	}
	s1 := metaSnapshotBytes(t, m)
	r := restoreMetaRoundTrip(t, s1)
	if !reflect.DeepEqual(metaView(m), metaView(r)) {
		t.Fatal("a restored state's snapshot restores to another state")
	}
	// The restored state must take further commands without panicking.
	idx := m.LastIndex() + 1
	for _, q := range m.Queues() {
		m.Apply(idx, &fsmpb.Bind{Exchange: "amq.topic", Queue: q.Name, Key: "#"})
		m.Apply(idx+1, &fsmpb.MetaSessionDown{Sessions: []string{q.OwnerSession}})
		idx += 2
	}
	for _, ex := range m.Exchanges() {
		_, _ = m.Route("", ex.Name, "a.b", map[string]routing.Value{"a": {Type: routing.ValueString, Str: "x"}})
		m.Apply(idx, &fsmpb.DeleteExchange{Name: ex.Name})
		idx++
	}
	if err := checkMetaInvariants(m, false); err != nil {
		t.Fatalf("restored state after further commands: %v", err)
	}
}

// checkMetaInvariants checks what must hold of any Meta state: the
// built-in exchanges exist; every binding refers to an existing exchange
// and queue, is keyed by its own identity and routes; queue definitions are
// consistent with their names and specs; an exclusive queue has an owner;
// the indexes equal their recomputation from the state (checkMetaIndexes).
// With placement, every queue's group is in range and the per-group counts
// match the queues (true of states built by commands).
func checkMetaInvariants(m *Meta, placement bool) error {
	for v := range m.access.vhosts {
		for _, b := range builtinExchanges {
			ex, ok := m.exchanges[objectKey(v, b.name)]
			if !ok || !ex.def.Builtin || ex.def.Kind != b.kind {
				return fmt.Errorf("built-in exchange %q of vhost %q missing or changed", b.name, v)
			}
		}
	}
	for key, ex := range m.exchanges {
		if ex.def.key() != key {
			return fmt.Errorf("exchange %q is stored under %q", ex.def.Name, key)
		}
		if _, ok := m.access.vhosts[ex.def.VHost]; !ok {
			return fmt.Errorf("exchange %q is in missing vhost %q", ex.def.Name, ex.def.VHost)
		}
		name := ex.def.Name
		if !ex.def.Builtin && (name == DefaultExchange || strings.HasPrefix(name, "amq.")) && placement {
			return fmt.Errorf("non-built-in exchange with reserved name %q", name)
		}
		for id, b := range ex.bindings {
			if b.Exchange != name || b.VHost != ex.def.VHost {
				return fmt.Errorf("binding %+v is stored on exchange %q", b, name)
			}
			if _, ok := m.exchanges[objectKey(b.VHost, b.Queue)]; b.ToExchange && !ok {
				return fmt.Errorf("binding %q→%q (%q) refers to a missing exchange", name, b.Queue, b.Key)
			}
			if _, ok := m.queues[objectKey(b.VHost, b.Queue)]; !b.ToExchange && !ok {
				return fmt.Errorf("binding %q→%q (%q) refers to a missing queue", name, b.Queue, b.Key)
			}
			if newBindingID(b) != id {
				return fmt.Errorf("binding %+v is stored under another identity", b)
			}
		}
		if name == DefaultExchange && len(ex.bindings) > 0 {
			return fmt.Errorf("the default exchange has %d bindings", len(ex.bindings))
		}
	}
	for _, b := range m.Bindings("", "", "") {
		if _, ok := m.exchanges[objectKey(b.VHost, b.Exchange)]; !ok {
			return fmt.Errorf("binding refers to missing exchange %q", b.Exchange)
		}
	}
	perGroup := make([]int, len(m.perGroup))
	for key, q := range m.queues {
		name := q.Name
		if q.key() != key || name == "" {
			return fmt.Errorf("queue %q is stored under %q", q.Name, key)
		}
		if q.Spec == nil || q.Spec.GetName() != name || q.Spec.GetId() != q.ID {
			return fmt.Errorf("queue %q has spec %v (id %d)", name, q.Spec, q.ID)
		}
		if placement && q.Exclusive && q.OwnerSession == "" {
			return fmt.Errorf("exclusive queue %q has no owner session", name)
		}
		if !q.Exclusive && q.OwnerSession != "" && placement {
			return fmt.Errorf("non-exclusive queue %q has owner %q", name, q.OwnerSession)
		}
		if int(q.Group) < len(perGroup) {
			perGroup[q.Group]++
		} else if placement {
			return fmt.Errorf("queue %q is in group %d of %d", name, q.Group, m.groups)
		}
	}
	if err := checkMetaIndexes(m); err != nil {
		return err
	}
	if placement && !reflect.DeepEqual(perGroup, m.perGroup) {
		return fmt.Errorf("per-group queue counts %v, want %v", m.perGroup, perGroup)
	}
	if placement {
		ids := map[uint64]string{}
		for name, q := range m.queues {
			if other, dup := ids[q.ID]; dup {
				return fmt.Errorf("queues %q and %q share id %d", name, other, q.ID)
			}
			ids[q.ID] = name
		}
	}
	return nil
}

// checkMetaIndexes recomputes Meta's indexes from the queues and
// bindings, by a full scan, and compares them with those the commands (or
// the restore) kept.
func checkMetaIndexes(m *Meta) error {
	owners := map[string]map[string]struct{}{}
	objects := map[string]*vhostObjects{}
	object := func(v string) *vhostObjects {
		if objects[v] == nil {
			objects[v] = &vhostObjects{exchanges: map[string]struct{}{}, queues: map[string]struct{}{}}
		}
		return objects[v]
	}
	for _, q := range m.queues {
		object(q.VHost).queues[q.Name] = struct{}{}
	}
	for _, ex := range m.exchanges {
		object(ex.def.VHost).exchanges[ex.def.Name] = struct{}{}
		object(ex.def.VHost).bindings += len(ex.bindings)
	}
	if !reflect.DeepEqual(objects, m.objects) {
		return fmt.Errorf("vhost object index %v, recomputed %v", m.objects, objects)
	}
	for name, q := range m.queues {
		if !q.Exclusive {
			continue
		}
		if owners[q.OwnerSession] == nil {
			owners[q.OwnerSession] = map[string]struct{}{}
		}
		owners[q.OwnerSession][name] = struct{}{}
	}
	if !reflect.DeepEqual(owners, m.owners) {
		return fmt.Errorf("owner index %v, recomputed %v", m.owners, owners)
	}
	byQueue := map[string]map[bindingRef]struct{}{}
	byExchange := map[string]map[bindingRef]struct{}{}
	for name, ex := range m.exchanges {
		for id, b := range ex.bindings {
			qk := objectKey(b.VHost, b.Queue)
			index := byQueue
			if b.ToExchange {
				index = byExchange
				if _, ok := m.exchanges[qk]; !ok {
					return fmt.Errorf("binding %v leads to a missing exchange", b)
				}
			} else if _, ok := m.queues[qk]; !ok {
				return fmt.Errorf("binding %v leads to a missing queue", b)
			}
			if index[qk] == nil {
				index[qk] = map[bindingRef]struct{}{}
			}
			index[qk][bindingRef{name, id}] = struct{}{}
		}
	}
	if !reflect.DeepEqual(byQueue, m.queueBindings) {
		return fmt.Errorf("binding index %v, recomputed %v", m.queueBindings, byQueue)
	}
	if !reflect.DeepEqual(byExchange, m.exchangeBindings) {
		return fmt.Errorf("exchange binding index %v, recomputed %v", m.exchangeBindings, byExchange)
	}
	want := slices.Sorted(maps.Keys(owners))
	if got := m.ExclusiveOwners(); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
		return fmt.Errorf("ExclusiveOwners %q, recomputed %q", got, want)
	}
	for s := range owners {
		if !m.HasExclusiveQueues(s) {
			return fmt.Errorf("HasExclusiveQueues(%q) is false; it owns %v", s, owners[s])
		}
	}
	return nil
}

// metaSnapshotAt is m's snapshot as it would be with LastIndex raised to
// index, as Apply at index raises it before anything else: the snapshot a
// command refused at index must leave.
func metaSnapshotAt(t testing.TB, m *Meta, index uint64) []byte {
	t.Helper()
	saved := m.lastIndex
	m.lastIndex = max(saved, index)
	defer func() { m.lastIndex = saved }()
	return metaSnapshotBytes(t, m)
}

// metaState is what a Meta exposes, for comparing two states.
type metaState struct {
	Exchanges []ExchangeDef
	Queues    []QueueDef
	Bindings  []BindingDef
	PerGroup  []int
	LastIndex uint64
}

func metaView(m *Meta) metaState {
	v := metaState{Exchanges: m.Exchanges(), Bindings: m.Bindings("", "", ""), PerGroup: m.perGroup, LastIndex: m.LastIndex()}
	for _, q := range m.Queues() {
		v.Queues = append(v.Queues, *q)
	}
	// Argument values are compared through their canonical text: two equal
	// protos need not be reflect.DeepEqual.
	for i := range v.Exchanges {
		v.Exchanges[i].Args = canonicalMap(v.Exchanges[i].Args)
	}
	for i := range v.Queues {
		v.Queues[i].Args = canonicalMap(v.Queues[i].Args)
		spec, _ := proto.MarshalOptions{Deterministic: true}.Marshal(v.Queues[i].Spec)
		v.Queues[i].Spec = &fsmpb.QueueSpec{Name: string(spec)}
	}
	for i := range v.Bindings {
		v.Bindings[i].Args = canonicalMap(v.Bindings[i].Args)
	}
	return v
}

func canonicalMap(args map[string]*fsmpb.Value) map[string]*fsmpb.Value {
	if len(args) == 0 {
		return nil
	}
	return map[string]*fsmpb.Value{canonicalArgs(args): nil}
}

// normMetaResult is a meta Result without its error value, for equality.
type normMetaResult struct {
	Err       string
	QueueID   uint64
	QueueName string
	Created   bool
	Dropped   []DroppedQueue
}

func normMeta(r *Result) normMetaResult {
	n := normMetaResult{QueueID: r.QueueID, QueueName: r.QueueName, Created: r.Created, Dropped: r.DroppedQueues}
	if r.Err != nil {
		n.Err = r.Err.Error()
	}
	return n
}

func metaSnapshotBytes(t testing.TB, m *Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.WriteSnapshot(&buf); err != nil {
		t.Fatalf("write meta snapshot: %v", err)
	}
	return buf.Bytes()
}

// restoreMetaRoundTrip restores s and requires its snapshot to be s again.
func restoreMetaRoundTrip(t testing.TB, s []byte) *Meta {
	t.Helper()
	r, err := RestoreMeta(bytes.NewReader(s), fuzzMetaGroups)
	if err != nil {
		t.Fatalf("a snapshot written by WriteSnapshot does not restore: %v", err)
	}
	if s2 := metaSnapshotBytes(t, r); !bytes.Equal(s, s2) {
		t.Fatal("snapshot → restore → snapshot is not byte-identical")
	}
	return r
}

// frameMetaSnapshot wraps body as WriteSnapshot frames a MetaSnapshot:
// magic, uvarint length, body, CRC32 of all that.
func frameMetaSnapshot(body []byte) []byte {
	buf := append([]byte{}, metaSnapshotMagic[:]...)
	buf = binary.AppendUvarint(buf, uint64(len(body)))
	buf = append(buf, body...)
	return binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
}

// metaSeedLog is a log that touches every meta command, their error paths
// and every exchange kind.
func metaSeedLog() []proto.Message {
	args := map[string]*fsmpb.Value{"x-match": {Kind: &fsmpb.Value_StringValue{StringValue: "any"}}, "a": {Kind: &fsmpb.Value_IntValue{IntValue: 1}}, "b": {}}
	return []proto.Message{
		&fsmpb.DeclareExchange{Name: "logs", Kind: "topic"},
		&fsmpb.DeclareExchange{Name: "hdr", Kind: "headers", AutoDelete: true},
		&fsmpb.DeclareExchange{Name: "fan", Kind: "fanout", Internal: true, Arguments: map[string]*fsmpb.Value{"note": {Kind: &fsmpb.Value_StringValue{StringValue: "x"}}}},
		&fsmpb.DeclareExchange{Name: "bad", Kind: "bogus"},
		&fsmpb.DeclareQueue{Name: "q1", Arguments: map[string]*fsmpb.Value{"x-max-length": {Kind: &fsmpb.Value_IntValue{IntValue: 10}}}},
		&fsmpb.DeclareQueue{Name: "q2", Exclusive: true, OwnerSession: "s1"},
		&fsmpb.DeclareQueue{Name: "amq.gen-x", AutoDelete: true},
		&fsmpb.DeclareQueue{Name: "q1"},
		&fsmpb.Bind{Exchange: "logs", Queue: "q1", Key: "a.*"},
		&fsmpb.Bind{Exchange: "logs", Queue: "q2", Key: "#"},
		&fsmpb.Bind{Exchange: "hdr", Queue: "q1", Arguments: args},
		&fsmpb.Bind{Exchange: "fan", Queue: "amq.gen-x"},
		&fsmpb.Bind{Exchange: "", Queue: "q1", Key: "k"},
		&fsmpb.Bind{Exchange: "logs", Queue: "ghost", Key: "k"},
		&fsmpb.Unbind{Exchange: "hdr", Queue: "q1", Arguments: args},
		&fsmpb.DeclareExchange{Name: "alt", Kind: "direct", AutoDelete: true, Arguments: map[string]*fsmpb.Value{"alternate-exchange": {Kind: &fsmpb.Value_StringValue{StringValue: "logs"}}}},
		&fsmpb.Bind{Exchange: "logs", Queue: "fan", Key: "x.#", DestinationKind: fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE},
		&fsmpb.Bind{Exchange: "alt", Queue: "logs", DestinationKind: fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE},
		&fsmpb.Bind{Exchange: "fan", Queue: "alt", DestinationKind: fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE},
		&fsmpb.Bind{Exchange: "fan", Queue: "ghost", DestinationKind: fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE},
		&fsmpb.Unbind{Exchange: "fan", Queue: "alt", DestinationKind: fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE},
		&fsmpb.DeclareExchange{Name: "later", Kind: "x-delayed-message", Arguments: map[string]*fsmpb.Value{"x-delayed-type": {Kind: &fsmpb.Value_StringValue{StringValue: "topic"}}}},
		&fsmpb.DeclareExchange{Name: "later2", Kind: "x-delayed-message"},
		&fsmpb.Bind{Exchange: "later", Queue: "q1", Key: "#"},
		&fsmpb.DeleteExchange{Name: "logs", IfUnused: true},
		&fsmpb.MetaSessionDown{Sessions: []string{"s1"}},
		&fsmpb.DeleteQueue{Name: "amq.gen-x"},
		&fsmpb.DeleteExchange{Name: "amq.topic"},
		&fsmpb.Enqueue{}, // a queue command: Meta refuses it
	}
}

func encodeCommands(t testing.TB, cmds []proto.Message) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range cmds {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("encode %T: %v", c, err)
		}
		out = append(out, b)
	}
	return out
}

func metaLogSeeds(t testing.TB) [][]byte {
	log := encodeCommands(t, metaSeedLog())
	seeds := [][]byte{frameLog(log)}
	for _, e := range log[:6] {
		seeds = append(seeds, frameLog([][]byte{e}))
	}
	// The two commands of issue 9 between valid ones: a DeclareQueue named
	// with invalid UTF-8 (which Decode refuses; the fuzz target applies it
	// through decodeLenient), followed by a Bind and a DeleteQueue of that
	// name, and one with a 204,800-byte name (alone: it is 200 KiB).
	utf8 := invalidUTF8Declare().GetName()
	seeds = append(seeds, frameLog([][]byte{
		log[0], rawEntry(invalidUTF8Declare()),
		rawEntry(&fsmpb.Bind{Exchange: "logs", Queue: utf8, Key: "#"}),
		rawEntry(&fsmpb.DeleteQueue{Name: utf8}),
		log[4],
	}))
	seeds = append(seeds, frameLog([][]byte{log[0], rawEntry(hugeNameDeclare()), log[4]}))
	return seeds
}

func metaSnapshotSeeds(t testing.TB) [][]byte {
	m := NewMeta(fuzzMetaGroups)
	for i, c := range metaSeedLog() {
		m.Apply(uint64(i+1), c)
	}
	full := metaSnapshotBytes(t, m)
	// The body alone: the fuzzer's framing makes it a valid snapshot.
	_, k := binary.Uvarint(full[len(metaSnapshotMagic):])
	body := full[len(metaSnapshotMagic)+k : len(full)-4]
	return [][]byte{
		metaSnapshotBytes(t, NewMeta(fuzzMetaGroups)),
		full,
		body,
		[]byte("WMS\x01"),
	}
}

// TestMetaFuzzSeedsAreValid keeps the seeds meaningful: the log applies
// without breaking invariants and the snapshots restore.
func TestMetaFuzzSeedsAreValid(t *testing.T) {
	m := NewMeta(fuzzMetaGroups)
	created := 0
	for i, c := range metaSeedLog() {
		if m.Apply(uint64(i+1), c).Created {
			created++
		}
		if err := checkMetaInvariants(m, true); err != nil {
			t.Fatalf("seed command %d: %v", i, err)
		}
	}
	if created < 6 {
		t.Fatalf("only %d seed commands created something; the seed log no longer exercises much", created)
	}
	for i, s := range metaSnapshotSeeds(t)[:2] {
		if _, err := RestoreMeta(bytes.NewReader(s), fuzzMetaGroups); err != nil {
			t.Errorf("snapshot seed %d: %v", i, err)
		}
	}
	if _, err := RestoreMeta(bytes.NewReader(frameMetaSnapshot(metaSnapshotSeeds(t)[2])), fuzzMetaGroups); err != nil {
		t.Errorf("framed body seed: %v", err)
	}
}

// TestWriteMetaFuzzSeeds writes the meta seed corpora under testdata/fuzz
// with -update, so the committed corpus follows the format.
func TestWriteMetaFuzzSeeds(t *testing.T) {
	if !updateFiles() {
		t.Skip("run with -update to rewrite the seed corpora")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzMetaApply":   metaLogSeeds(t),
		"FuzzRestoreMeta": metaSnapshotSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
