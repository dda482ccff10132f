package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func TestMessageSize(t *testing.T) {
	str := func(s string) *fsmpb.Value { return &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: s}} }
	tests := []struct {
		name string
		p    *fsmpb.Payload
		want uint64
	}{
		{"nil", nil, 0},
		{"body alone", &fsmpb.Payload{Body: []byte("hello")}, 5},
		{"exchange and routing key do not count", &fsmpb.Payload{Body: []byte("x"), Exchange: "ex", RoutingKey: "rk"}, 1},
		{"string and bytes headers: key and value", &fsmpb.Payload{Headers: map[string]*fsmpb.Value{
			"ab": str("xyz"), "c": {Kind: &fsmpb.Value_BytesValue{BytesValue: []byte{0, 1, 2, 3}}},
		}}, 2 + 3 + 1 + 4},
		{"numbers by width", &fsmpb.Payload{Headers: map[string]*fsmpb.Value{
			"i": {Kind: &fsmpb.Value_IntValue{IntValue: 1}}, "d": {Kind: &fsmpb.Value_DoubleValue{DoubleValue: 1}},
			"b": {Kind: &fsmpb.Value_BoolValue{BoolValue: true}},
		}}, 1 + 8 + 1 + 8 + 1 + 1},
		{"a header without a value counts its key", &fsmpb.Payload{Headers: map[string]*fsmpb.Value{"key": {}, "nil": nil}}, 6},
		{"string properties count, numeric ones do not", &fsmpb.Payload{Body: []byte("b"), Properties: &fsmpb.Properties{
			ContentType: "ct", ContentEncoding: "ce", MessageId: "mid", CorrelationId: "cid", ReplyTo: "rt",
			Type: "t", AppId: "app", UserId: "u", ExpirationMs: 5, TimestampMs: 6, Priority: 7,
		}}, 1 + 2 + 2 + 3 + 3 + 2 + 1 + 3 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MessageSize(tt.p); got != tt.want {
				t.Fatalf("MessageSize = %d, want %d", got, tt.want)
			}
		})
	}
}

// drawPayload draws a payload with random headers and properties.
func drawPayload(t *rapid.T) *fsmpb.Payload {
	p := &fsmpb.Payload{
		Body:       rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "body"),
		Exchange:   rapid.StringN(0, 8, -1).Draw(t, "exchange"),
		RoutingKey: rapid.StringN(0, 8, -1).Draw(t, "routingKey"),
	}
	for range rapid.IntRange(0, 6).Draw(t, "headers") {
		v := &fsmpb.Value{}
		switch rapid.IntRange(0, 5).Draw(t, "kind") {
		case 0:
			v.Kind = &fsmpb.Value_StringValue{StringValue: rapid.StringN(0, 20, -1).Draw(t, "s")}
		case 1:
			v.Kind = &fsmpb.Value_BytesValue{BytesValue: rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "b")}
		case 2:
			v.Kind = &fsmpb.Value_IntValue{IntValue: rapid.Int64().Draw(t, "i")}
		case 3:
			v.Kind = &fsmpb.Value_DoubleValue{DoubleValue: rapid.Float64().Draw(t, "d")}
		case 4:
			v.Kind = &fsmpb.Value_BoolValue{BoolValue: rapid.Bool().Draw(t, "bool")}
		}
		if p.Headers == nil {
			p.Headers = map[string]*fsmpb.Value{}
		}
		p.Headers[rapid.StringN(1, 6, -1).Draw(t, "key")] = v
	}
	if rapid.Bool().Draw(t, "hasProperties") {
		s := func(label string) string { return rapid.StringN(0, 10, -1).Draw(t, label) }
		p.Properties = &fsmpb.Properties{
			ContentType: s("ct"), ContentEncoding: s("ce"), MessageId: s("mid"), CorrelationId: s("cid"),
			ReplyTo: s("rt"), Type: s("type"), AppId: s("app"), UserId: s("user"),
			ExpirationMs: rapid.Int64Range(0, 1<<40).Draw(t, "exp"), Priority: rapid.Uint32().Draw(t, "prio"),
		}
	}
	return p
}

// TestMessageSizeAtMostEncoded: MessageSize never exceeds the encoded size
// of the body, headers and properties. The API's warren.v1.Message has
// exactly Payload's fields 1–3 (same numbers and types), so this is the
// size the edge holds to --max-message-bytes: a message the edge admits
// under N counts at most N against max-length-bytes.
func TestMessageSizeAtMostEncoded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPayload(t)
		edge := proto.Size(&fsmpb.Payload{Body: p.Body, Headers: p.Headers, Properties: p.Properties})
		if got := MessageSize(p); got > uint64(edge) {
			t.Fatalf("MessageSize %d > encoded size %d of %v", got, edge, p)
		}
	})
}

// bigHeaders returns n headers of valueBytes bytes each (keys h00, h01, …).
func bigHeaders(n, valueBytes int) map[string]*fsmpb.Value {
	h := make(map[string]*fsmpb.Value, n)
	for i := range n {
		h[fmt.Sprintf("h%02d", i)] = &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: strings.Repeat("v", valueBytes)}}
	}
	return h
}

// headerHeavy is the load: 20 messages with a 1-byte body and
// 7 × 60 KiB of headers each, 8.2 MiB of headers in all, under rule.
func headerHeavy(spec *fsmpb.QueueSpec, rule fsmpb.SizeRule) []*fsmpb.Enqueue {
	var out []*fsmpb.Enqueue
	for i := range 20 {
		m := emsg(fmt.Sprintf("%c", 'a'+i), 0)
		m.Payload.Headers = bigHeaders(7, 60<<10)
		m.Payload.Properties = &fsmpb.Properties{MessageId: fmt.Sprintf("id-%02d", i)}
		e := enqueue(int64(10+i), []*fsmpb.QueueSpec{spec}, m)
		e.SizeRule = rule
		out = append(out, e)
	}
	return out
}

// headerHeavySize is the MessageSize of each headerHeavy message.
const headerHeavySize uint64 = 1 + 7*(3+60<<10) + uint64(len("id-00"))

// TestHeadersCountTowardMaxLengthBytes: under SIZE_RULE_WITH_HEADERS a
// queue of max-length-bytes 1 MiB holds at most 1 MiB of messages counted
// with their headers, for both overflow modes; under SIZE_RULE_BODY (an
// entry from before the rule) the same messages count their bodies alone,
// as they did when such an entry was first applied.
func TestHeadersCountTowardMaxLengthBytes(t *testing.T) {
	const limit = 1 << 20
	fit := uint64(limit / headerHeavySize) // 2 messages of ~420 KiB fit
	tests := []struct {
		name        string
		rule        fsmpb.SizeRule
		reject      bool
		wantReady   uint64
		wantBytes   uint64
		wantRefused int    // EnqueueRejected outcomes
		wantDead    int    // dead letters (maxlen)
		wantFirst   string // body of the oldest ready message
	}{
		{"drop-head, with headers", fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS, false, fit, fit * headerHeavySize, 0, 20 - int(fit), "s"},
		{"reject-publish, with headers", fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS, true, fit, fit * headerHeavySize, 20 - int(fit), 0, "a"},
		{"drop-head, old entries: body only", fsmpb.SizeRule_SIZE_RULE_BODY, false, 20, 20, 0, 0, "a"},
		{"reject-publish, old entries: body only", fsmpb.SizeRule_SIZE_RULE_BODY, true, 20, 20, 0, 0, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []specOpt{withMaxBytes(limit), withDLX("dlx", "")}
			if tt.reject {
				opts = append(opts, withReject())
			}
			spec := qspec(1, "capped", opts...)
			r := newQueueRunner(t)
			refused, dead := 0, 0
			for _, e := range headerHeavy(spec, tt.rule) {
				res := r.ok(e)
				if st := res.Enqueued[0].Status; st == EnqueueRejected {
					refused++
					if !strings.Contains(res.Enqueued[0].Reason, fmt.Sprintf("max-length-bytes %d, message of %d bytes", limit, headerHeavySize)) {
						t.Fatalf("reason %q", res.Enqueued[0].Reason)
					}
				} else if st != EnqueueOK {
					t.Fatalf("outcome %+v", res.Enqueued[0])
				}
				for _, d := range res.DeadLetters {
					if d.Reason != dlReasonMaxLen {
						t.Fatalf("dead letter %+v", d)
					}
					dead++
				}
				if st, _ := r.g.QueueStats(1); tt.rule == fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS && st.ReadyBytes > limit {
					t.Fatalf("ready bytes %d over the limit %d", st.ReadyBytes, limit)
				}
			}
			st, _ := r.g.QueueStats(1)
			if st.Ready != tt.wantReady || st.ReadyBytes != tt.wantBytes || refused != tt.wantRefused || dead != tt.wantDead {
				t.Fatalf("ready %d (%d bytes), %d refused, %d dead; want %d (%d bytes), %d refused, %d dead",
					st.Ready, st.ReadyBytes, refused, dead, tt.wantReady, tt.wantBytes, tt.wantRefused, tt.wantDead)
			}
			got := r.ok(get(spec, "s", true, 0, 100)).Got
			if got == nil || string(got.Payload.GetBody()) != tt.wantFirst {
				t.Fatalf("oldest ready message %v, want body %q", got, tt.wantFirst)
			}
		})
	}
}

// A single message whose headers alone pass max-length-bytes: drop-head
// discards it at once (it is the oldest), reject-publish refuses it.
func TestHeadersAloneOverMaxLengthBytes(t *testing.T) {
	for _, reject := range []bool{false, true} {
		opts := []specOpt{withMaxBytes(100)}
		if reject {
			opts = append(opts, withReject())
		}
		spec := qspec(1, "small", opts...)
		r := newQueueRunner(t)
		m := emsg("x", 0)
		m.Payload.Headers = bigHeaders(1, 200)
		e := enqueue(10, []*fsmpb.QueueSpec{spec}, m, emsg("y", 0))
		e.SizeRule = fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS
		res := r.ok(e)
		want := EnqueueOK
		if reject {
			want = EnqueueRejected
		}
		if res.Enqueued[0].Status != want || res.Enqueued[1].Status != EnqueueOK {
			t.Fatalf("reject %t: outcomes %+v", reject, res.Enqueued)
		}
		if st, _ := r.g.QueueStats(1); st.Ready != 1 || st.ReadyBytes != 1 {
			t.Fatalf("reject %t: stats %+v, want only y (1 byte)", reject, st)
		}
	}
}

// TestSizeRuleSurvivesRestore: a message keeps the size of the rule it was
// enqueued under through a snapshot, whichever version, and through
// returns and gets. A group that replays a log of both rules and one that
// restored a version 1 snapshot in the middle (an upgrade) end with
// byte-identical snapshots, and only then the group writes version 2.
func TestSizeRuleSurvivesRestore(t *testing.T) {
	spec := qspec(1, "jobs", withMaxBytes(1<<20))
	rich := func(body string) *fsmpb.EnqueueMessage {
		m := emsg(body, 0)
		m.Payload.Headers = bigHeaders(2, 1000)
		return m
	}
	old := []proto.Message{
		enqueue(10, []*fsmpb.QueueSpec{spec}, rich("old1"), rich("old2")),
		checkout(spec, "s", "c", 1, false), // takes old1
		get(spec, "g", false, 0, 11),       // takes old2
	}
	withHeaders := enqueue(20, []*fsmpb.QueueSpec{spec}, rich("new1"))
	withHeaders.SizeRule = fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS
	upgraded := []proto.Message{
		withHeaders,
		cancel(1, "s", "c"), // old1 back: body size
		sessionDown("g"),    // old2 back: body size
	}

	replayed := NewQueueGroup()
	replayQueueLog(t, replayed, 1, makeQueueLog(t, old...))
	v1 := snapshotBytes(t, replayed)
	if v := snapshotVersionOf(t, v1); v != qsVersionBodySize {
		t.Fatalf("before any rule-1 entry the snapshot is version %d", v)
	}
	restored, err := RestoreQueueGroup(bytes.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*QueueGroup{replayed, restored} {
		for i, res := range replayQueueLog(t, g, uint64(len(old)+1), makeQueueLog(t, upgraded...)) {
			if res.Err != nil {
				t.Fatalf("entry %d: %v", i, res.Err)
			}
		}
	}
	a, b := snapshotBytes(t, replayed), snapshotBytes(t, restored)
	if !bytes.Equal(a, b) {
		t.Fatal("replayed and restored groups differ")
	}
	if v := snapshotVersionOf(t, a); v != qsVersionSizeRule {
		t.Fatalf("after a rule-1 entry the snapshot is version %d", v)
	}
	// new1 counts its headers; old1 and old2, back in the queue, their
	// bodies.
	headers := uint64(2 * (3 + 1000))
	want := (4 + headers) + 4 + 4
	if st, _ := restored.QueueStats(1); st.ReadyBytes != want || st.Ready != 3 {
		t.Fatalf("stats %+v, want 3 ready, %d bytes", st, want)
	}
	again, err := RestoreQueueGroup(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, again), a) {
		t.Fatal("version 2 snapshot does not round-trip")
	}
}

// A version 1 snapshot cannot hold a size that counts headers: one that
// claims it (a version 2 snapshot relabelled) is corrupt.
func TestQueueSnapshotV1RefusesHeaderSizes(t *testing.T) {
	v2 := snapshotBytes(t, goldenQueueGroupRule(t, fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS))
	body := bytes.Clone(v2[:len(v2)-6]) // without the trailer
	// The header record: type, length, magic, then the version.
	at := 2 + len(qsMagic)
	if body[0] != qsHeader || body[at] != qsVersionSizeRule {
		t.Fatalf("unexpected header % x", body[:at+1])
	}
	body[at] = qsVersionBodySize
	_, err := RestoreQueueGroup(bytes.NewReader(withTrailer(body)))
	if !errors.Is(err, errSnapshot) || !strings.Contains(err.Error(), "snapshot version 1") {
		t.Fatalf("error %v, want a corrupt size in version 1", err)
	}
}
