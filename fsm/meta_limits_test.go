package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// limitedMeta is a Meta with something of everything, for the refusal
// tables: a topic exchange "logs", queues "q" and exclusive "mine" (of
// session "s1"), and a binding of q to logs.
func limitedMeta(t *testing.T) *metaLog {
	l := newMetaLog(t, 2)
	l.must(&fsmpb.DeclareExchange{Name: "logs", Kind: "topic"})
	l.must(&fsmpb.DeclareQueue{Name: "q"})
	l.must(&fsmpb.DeclareQueue{Name: "mine", Exclusive: true, OwnerSession: "s1"})
	l.must(&fsmpb.Bind{Exchange: "logs", Queue: "q", Key: "a.#"})
	return l
}

// manyArgs returns n integer arguments.
func manyArgs(n int) map[string]*fsmpb.Value {
	m := map[string]*fsmpb.Value{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = num(int64(i))
	}
	return m
}

// TestMetaRefusesPastLimits applies meta commands with one field past a
// limit each, Go bodies (not through the codec, which refuses invalid
// UTF-8): each is refused with ErrInvalid, its error names the field, and
// the snapshot is what it was.
func TestMetaRefusesPastLimits(t *testing.T) {
	long, huge := repeat(MaxNameBytes+1), repeat(204800)
	bigValue := map[string]*fsmpb.Value{"v": str(repeat(MaxArgValueBytes + 1))}
	tooMuch := map[string]*fsmpb.Value{"a": str(repeat(40 << 10)), "b": str(repeat(40 << 10))}
	manySessions := make([]string, MaxSessionsPerCommand+1)
	for i := range manySessions {
		manySessions[i] = fmt.Sprintf("s%d", i)
	}
	tests := []struct {
		name string
		cmd  proto.Message
		want string // in the error
	}{
		{"declare queue, invalid UTF-8 name", invalidUTF8Declare(), "queue name is not valid UTF-8"},
		{"declare queue, 204,800-byte name", hugeNameDeclare(), "queue name is 204800 bytes long; the limit is 255"},
		{"declare queue, existing name, long owner", &fsmpb.DeclareQueue{Name: "mine", Exclusive: true, OwnerSession: repeat(MaxSessionIDBytes + 1)}, "owner session is 129 bytes"},
		{"declare queue, invalid UTF-8 owner", &fsmpb.DeclareQueue{Name: "q2", Exclusive: true, OwnerSession: "s\xff"}, "owner session is not valid UTF-8"},
		{"declare queue, 129 arguments", &fsmpb.DeclareQueue{Name: "q2", Arguments: manyArgs(MaxArgs + 1)}, "queue arguments have 129 entries"},
		{"declare queue, long argument value", &fsmpb.DeclareQueue{Name: "q2", Arguments: bigValue}, `value of "v" is 65537 bytes`},
		{"declare queue, arguments too big in all", &fsmpb.DeclareQueue{Name: "q2", Arguments: tooMuch}, "in all; the limit is 65536"},
		{"declare queue, long dead-letter exchange", &fsmpb.DeclareQueue{Name: "q2", Arguments: map[string]*fsmpb.Value{"x-dead-letter-exchange": str(long)}}, "dead-letter exchange is 256 bytes"},
		{"re-declare queue, long dead-letter exchange", &fsmpb.DeclareQueue{Name: "q", Arguments: map[string]*fsmpb.Value{"dead-letter-exchange": str(long)}}, "dead-letter exchange is 256 bytes"},
		{"declare queue, invalid dead-letter key", &fsmpb.DeclareQueue{Name: "q2", Arguments: map[string]*fsmpb.Value{"x-dead-letter-routing-key": str("\xff")}}, `value of "x-dead-letter-routing-key" is not valid UTF-8`},
		{"declare queue, long dead-letter key", &fsmpb.DeclareQueue{Name: "q2", Arguments: map[string]*fsmpb.Value{"dead-letter-routing-key": str(long)}}, "dead-letter routing key is 256 bytes"},
		{"delete queue, long name", &fsmpb.DeleteQueue{Name: long}, "queue name is 256 bytes"},
		{"delete queue, invalid UTF-8 name", &fsmpb.DeleteQueue{Name: "q\xff"}, "queue name is not valid UTF-8"},
		{"declare exchange, long name", &fsmpb.DeclareExchange{Name: huge, Kind: "direct"}, "exchange name is 204800 bytes"},
		{"declare exchange, invalid UTF-8 name", &fsmpb.DeclareExchange{Name: "e\xff", Kind: "direct"}, "exchange name is not valid UTF-8"},
		{"declare exchange, long kind", &fsmpb.DeclareExchange{Name: "e", Kind: huge}, "exchange kind is 204800 bytes"},
		{"declare exchange, no kind", &fsmpb.DeclareExchange{Name: "e"}, "exchange kind is empty"},
		{"declare exchange, unknown kind", &fsmpb.DeclareExchange{Name: "e", Kind: "bogus"}, "bogus"},
		{"re-declare exchange, empty argument key", &fsmpb.DeclareExchange{Name: "logs", Kind: "topic", Arguments: map[string]*fsmpb.Value{"": num(1)}}, "exchange arguments key \"\" is empty"},
		{"delete exchange, long name", &fsmpb.DeleteExchange{Name: long}, "exchange name is 256 bytes"},
		{"bind, long exchange", &fsmpb.Bind{Exchange: long, Queue: "q"}, "exchange name is 256 bytes"},
		{"bind, long queue", &fsmpb.Bind{Exchange: "logs", Queue: huge}, "queue name is 204800 bytes"},
		{"bind, no queue", &fsmpb.Bind{Exchange: "logs"}, "queue name is empty"},
		{"bind, long key", &fsmpb.Bind{Exchange: "logs", Queue: "q", Key: long}, "binding key is 256 bytes"},
		{"bind, invalid UTF-8 key", &fsmpb.Bind{Exchange: "logs", Queue: "q", Key: "a.\xff"}, "binding key is not valid UTF-8"},
		{"bind, invalid UTF-8 argument key", &fsmpb.Bind{Exchange: "logs", Queue: "q", Arguments: map[string]*fsmpb.Value{"\xff": num(1)}}, "binding arguments key"},
		{"bind, arguments too big in all", &fsmpb.Bind{Exchange: "logs", Queue: "q", Arguments: tooMuch}, "binding arguments hold 81920 bytes"},
		{"unbind, long key", &fsmpb.Unbind{Exchange: "logs", Queue: "q", Key: long}, "binding key is 256 bytes"},
		{"unbind, invalid UTF-8 queue", &fsmpb.Unbind{Exchange: "logs", Queue: "q\xff", Key: "a.#"}, "queue name is not valid UTF-8"},
		{"session down, empty id", &fsmpb.MetaSessionDown{Sessions: []string{"s1", ""}}, "sessions[1] is empty"},
		{"session down, long id", &fsmpb.MetaSessionDown{Sessions: []string{repeat(MaxSessionIDBytes + 1), "s1"}}, "sessions[0] is 129 bytes long; the limit is 128"},
		{"session down, invalid UTF-8 id", &fsmpb.MetaSessionDown{Sessions: []string{"s1", "\xff"}}, "sessions[1] is not valid UTF-8"},
		{"session down, too many ids", &fsmpb.MetaSessionDown{Sessions: manySessions}, "100001 sessions; the limit is 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := limitedMeta(t)
			idx := l.index + 1
			before := metaSnapshotAt(t, l.m, idx)
			res := l.m.Apply(idx, tt.cmd)
			if !errors.Is(res.Err, ErrInvalid) || !strings.Contains(res.Err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrInvalid saying %q", res.Err, tt.want)
			}
			if res.Created || len(res.DroppedQueues) > 0 || res.QueueID != 0 {
				t.Fatalf("refused command reports effects: %+v", res)
			}
			if !bytes.Equal(before, metaSnapshotBytes(t, l.m)) {
				t.Fatal("refused command changed the state")
			}
			if err := checkMetaInvariants(l.m, true); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMetaAcceptsAtLimits applies commands whose fields are exactly at the
// limits: all are accepted.
func TestMetaAcceptsAtLimits(t *testing.T) {
	l := limitedMeta(t)
	name, session := repeat(MaxNameBytes), repeat(MaxSessionIDBytes)
	full := manyArgs(MaxArgs - 1)
	full["v"] = str(repeat(MaxArgValueBytes))
	l.must(&fsmpb.DeclareExchange{Name: name, Kind: "headers", Arguments: full})
	l.must(&fsmpb.DeclareQueue{Name: name, Exclusive: true, OwnerSession: session, Arguments: full})
	l.must(&fsmpb.Bind{Exchange: name, Queue: name, Key: name, Arguments: full})
	l.must(&fsmpb.Bind{Exchange: "logs", Queue: name, Key: name})
	if res := l.must(&fsmpb.MetaSessionDown{Sessions: []string{session}}); len(res.DroppedQueues) != 1 {
		t.Fatalf("dropped %v, want the queue of %d bytes", res.DroppedQueues, len(name))
	}
	if err := checkMetaInvariants(l.m, true); err != nil {
		t.Fatal(err)
	}
}

// TestMetaDeletesLegacyNames restores a state that holds names past the
// limits — as an older log could create — and checks that the deletes
// that name them still work, while the same names are refused where
// nothing exists under them.
func TestMetaDeletesLegacyNames(t *testing.T) {
	huge, longSession := repeat(204800), repeat(300)
	snap := &fsmpb.MetaSnapshot{Version: 1, LastIndex: 10,
		Exchanges: []*fsmpb.MetaExchangeRecord{{Name: "ex-" + repeat(300), Kind: "topic"}},
		Queues: []*fsmpb.MetaQueueRecord{
			{Id: 3, Name: huge, Group: 0},
			{Id: 4, Name: "owned-" + repeat(300), Group: 1, Exclusive: true, OwnerSession: longSession},
		},
		Bindings: []*fsmpb.MetaBindingRecord{{Exchange: "ex-" + repeat(300), Queue: huge, Key: repeat(1000)}},
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	m, err := RestoreMeta(bytes.NewReader(frameMetaSnapshot(body)), 2)
	if err != nil {
		t.Fatalf("a snapshot with long names must restore: %v", err)
	}
	if err := checkMetaInvariants(m, true); err != nil {
		t.Fatal(err)
	}
	if got := m.ExclusiveOwners(); !slices.Equal(got, []string{longSession}) || !m.HasExclusiveQueues(longSession) {
		t.Fatalf("restored owners %d", len(got))
	}
	steps := []struct {
		cmd  proto.Message
		want error // nil: accepted
	}{
		{&fsmpb.MetaSessionDown{Sessions: []string{repeat(301)}}, ErrInvalid}, // owns nothing
		{&fsmpb.MetaSessionDown{Sessions: []string{longSession}}, nil},
		{&fsmpb.DeleteQueue{Name: huge + "x"}, ErrInvalid}, // no such queue
		{&fsmpb.DeleteQueue{Name: huge}, nil},
		{&fsmpb.DeleteExchange{Name: "ex-" + repeat(301)}, ErrInvalid},
		{&fsmpb.DeleteExchange{Name: "ex-" + repeat(300)}, nil},
	}
	for i, s := range steps {
		res := m.Apply(uint64(11+i), s.cmd)
		if (s.want == nil) != (res.Err == nil) || !errors.Is(res.Err, s.want) {
			t.Fatalf("step %d (%T): %v, want %v", i, s.cmd, res.Err, s.want)
		}
		if err := checkMetaInvariants(m, true); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if len(m.Queues()) != 0 || len(m.Exchanges()) != len(builtinExchanges) || m.HasExclusiveQueues(longSession) {
		t.Fatalf("left %d queues, %d exchanges", len(m.Queues()), len(m.Exchanges()))
	}
}

// TestMetaSessionIndex checks the owner and binding indexes through a
// sequence of commands and a restore: ExclusiveOwners and
// HasExclusiveQueues read the index; a session down drops only its
// sessions' queues, sorted by name across sessions, each once.
func TestMetaSessionIndex(t *testing.T) {
	l := newMetaLog(t, 2)
	for _, q := range []struct{ name, owner string }{{"z1", "s1"}, {"a2", "s2"}, {"m2", "s2"}, {"y1", "s1"}, {"b3", "s3"}} {
		l.must(&fsmpb.DeclareQueue{Name: q.name, Exclusive: true, OwnerSession: q.owner})
		l.must(&fsmpb.Bind{Exchange: "amq.topic", Queue: q.name, Key: "#"})
		l.must(&fsmpb.Bind{Exchange: "amq.direct", Queue: q.name, Key: q.name})
	}
	l.must(&fsmpb.DeclareQueue{Name: "shared", OwnerSession: "s1"}) // not exclusive: no owner
	l.must(&fsmpb.DeclareExchange{Name: "tmp", Kind: "fanout", AutoDelete: true})
	l.must(&fsmpb.Bind{Exchange: "tmp", Queue: "y1"})
	wantOwners := func(want ...string) {
		t.Helper()
		if got := l.m.ExclusiveOwners(); !slices.Equal(got, want) {
			t.Fatalf("owners %q, want %q", got, want)
		}
		for _, s := range []string{"s1", "s2", "s3", "nobody"} {
			if l.m.HasExclusiveQueues(s) != slices.Contains(want, s) {
				t.Fatalf("HasExclusiveQueues(%q) = %t", s, !slices.Contains(want, s))
			}
		}
		if err := checkMetaInvariants(l.m, true); err != nil {
			t.Fatal(err)
		}
	}
	wantOwners("s1", "s2", "s3")
	l.must(&fsmpb.DeleteQueue{Name: "b3"})
	wantOwners("s1", "s2")
	if n := len(l.m.queueBindings[objectKey("", "y1")]); n != 3 {
		t.Fatalf("y1 has %d indexed bindings, want 3", n)
	}

	restored, err := RestoreMeta(bytes.NewReader(metaSnapshotBytes(t, l.m)), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkMetaInvariants(restored, true); err != nil {
		t.Fatalf("restored: %v", err)
	}
	for _, m := range []*Meta{l.m, restored} {
		res := m.Apply(l.index+1, &fsmpb.MetaSessionDown{Sessions: []string{"s1", "nobody", "s2", "s1"}})
		var names []string
		for _, d := range res.DroppedQueues {
			names = append(names, d.Name)
		}
		if res.Err != nil || !slices.Equal(names, []string{"a2", "m2", "y1", "z1"}) {
			t.Fatalf("session down dropped %q (%v), want [a2 m2 y1 z1]", names, res.Err)
		}
		if _, ok := m.Exchange("", "tmp"); ok {
			t.Fatal("auto-delete exchange tmp survived losing its last binding with y1")
		}
		if len(m.ExclusiveOwners()) != 0 || len(m.queueBindings) != 0 || len(m.Bindings("", "", "")) != 0 {
			t.Fatalf("left owners %q, bindings %v", m.ExclusiveOwners(), m.Bindings("", "", ""))
		}
		if err := checkMetaInvariants(m, true); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(metaSnapshotBytes(t, l.m), metaSnapshotBytes(t, restored)) {
		t.Fatal("live and restored states differ after the session down")
	}
}
