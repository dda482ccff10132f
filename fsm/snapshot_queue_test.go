package fsm

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// The -update flag rewrites golden files and fuzz seed corpora. It is
// registered here unless another test file of the package already did:
// package-level flag.Bool initialisers run before init functions, and init
// functions of files named before this one run first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and fuzz seed corpora")
	}
}

func updateFiles() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	b, _ := g.Get().(bool)
	return b
}

// queueGoldens are the golden snapshots, one per format version, each
// written from goldenQueueLog with the size rule that gives that version.
var queueGoldens = []struct {
	version uint64
	rule    fsmpb.SizeRule
	path    string
}{
	{qsVersionBodySize, fsmpb.SizeRule_SIZE_RULE_BODY, "testdata/queue_snapshot_v1.golden"},
	{qsVersionSizeRule, fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS, "testdata/queue_snapshot_v2.golden"},
}

// goldenQueueLog is a fixed command sequence that reaches every kind of
// snapshot record: tombstones, producers, returns and main messages, plain
// and auto-ack consumers with deliveries, get-holders with leases. Its
// Enqueues have SIZE_RULE_BODY, as every Enqueue before the rule existed.
func goldenQueueLog() []proto.Message {
	jobs := qspec(1, "jobs", withTTL(60000), withDeliveryLimit(3), withDLX("dlx", "dead"))
	capped := qspec(2, "capped", withMaxLen(3), withReject(), withMaxBytes(1<<20))
	doomed := qspec(3, "doomed")
	specs := []*fsmpb.QueueSpec{jobs, capped, doomed}
	rich := emsgP("m5", "p2", 7, 0)
	rich.Payload.Headers = map[string]*fsmpb.Value{
		"z": {Kind: &fsmpb.Value_IntValue{IntValue: -3}},
		"a": {Kind: &fsmpb.Value_StringValue{StringValue: "x"}},
		"m": {Kind: &fsmpb.Value_BytesValue{BytesValue: []byte{0, 1}}},
	}
	rich.Payload.Properties = &fsmpb.Properties{ContentType: "text/plain", MessageId: "id-5", ExpirationMs: 30000, Priority: 2}
	return []proto.Message{
		enqueue(1000, specs,
			emsgP("m1", "p1", 1, 0, 1), emsgP("m2", "p1", 2, 0), emsgP("m3", "p1", 4, 1),
			emsg("m4", 0, 2), rich),
		&fsmpb.DropQueue{Queue: 3},
		&fsmpb.DropQueue{Queue: 9},
		checkout(jobs, "sess-a", "c1", 2, false),
		checkout(jobs, "sess-b", "c2", 1, true),
		enqueue(1500, specs, emsg("m6", 0), emsg("m7", 0, 1)),
		retrn(ctags(1, "sess-a", "c1", 1)),
		get(capped, "sess-g", false, 5000, 2000),
		get(capped, "sess-h", false, 0, 2000),
		get(capped, "sess-g", true, 0, 2000),
		checkout(capped, "sess-a", "c1", 0, false),
		cancel(2, "sess-a", "c1"),
		retrn(ctags(2, "sess-h", "", 1)),
		enqueue(2400, specs, emsg("m8", 1)),
		tick(2500),
	}
}

// goldenQueueLogRule is goldenQueueLog with every Enqueue under rule.
func goldenQueueLogRule(rule fsmpb.SizeRule) []proto.Message {
	log := goldenQueueLog()
	for _, c := range log {
		if e, ok := c.(*fsmpb.Enqueue); ok {
			e.SizeRule = rule
		}
	}
	return log
}

func goldenQueueGroup(t testing.TB) *QueueGroup {
	t.Helper()
	return goldenQueueGroupRule(t, fsmpb.SizeRule_SIZE_RULE_BODY)
}

func goldenQueueGroupRule(t testing.TB, rule fsmpb.SizeRule) *QueueGroup {
	t.Helper()
	g := NewQueueGroup()
	for i, res := range replayQueueLog(t, g, 1, makeQueueLog(t, goldenQueueLogRule(rule)...)) {
		if res.Err != nil {
			t.Fatalf("golden log entry %d: %v", i, res.Err)
		}
	}
	return g
}

// TestQueueSnapshotGolden holds every format version to its golden file:
// the golden log writes it byte for byte, and the file restores and writes
// back identically (a snapshot of an older version keeps restoring).
func TestQueueSnapshotGolden(t *testing.T) {
	for _, gf := range queueGoldens {
		t.Run(filepath.Base(gf.path), func(t *testing.T) {
			got := snapshotBytes(t, goldenQueueGroupRule(t, gf.rule))
			if updateFiles() {
				if err := os.MkdirAll(filepath.Dir(gf.path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(gf.path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gf.path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if v := snapshotVersionOf(t, want); v != gf.version {
				t.Fatalf("%s holds version %d, want %d", gf.path, v, gf.version)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("snapshot differs from %s (%d vs %d bytes): the v%d format changed; "+
					"bump the version with an upgrade step, or run with -update if the change is intended",
					gf.path, len(got), len(want), gf.version)
			}
			// The golden bytes restore, and write back identically.
			g, err := RestoreQueueGroup(bytes.NewReader(want))
			if err != nil {
				t.Fatalf("restore golden: %v", err)
			}
			if again := snapshotBytes(t, g); !bytes.Equal(again, want) {
				t.Fatal("golden snapshot does not round-trip")
			}
		})
	}
}

// snapshotVersionOf reads the format version from a snapshot's header.
func snapshotVersionOf(t testing.TB, snap []byte) uint64 {
	t.Helper()
	typ, body, err := newQsReader(bytes.NewReader(snap)).next()
	if err != nil || typ != qsHeader {
		t.Fatalf("snapshot header: type %d, %v", typ, err)
	}
	d := qsDec{b: body}
	d.rawN(len(qsMagic))
	v := d.uvarint()
	if d.err != nil {
		t.Fatal(d.err)
	}
	return v
}

// TestQueueSnapshotRestoresState compares every read view of a restored
// group with the original, and the results of further commands.
func TestQueueSnapshotRestoresState(t *testing.T) {
	orig := goldenQueueGroup(t)
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, orig)))
	if err != nil {
		t.Fatal(err)
	}
	compareViews(t, orig, restored)
	if restored.lastIndex != orig.lastIndex || restored.lastNow != orig.lastNow {
		t.Fatalf("counters %d/%d, want %d/%d", restored.lastIndex, restored.lastNow, orig.lastIndex, orig.lastNow)
	}
	jobs := qspec(1, "jobs")
	next := []proto.Message{
		settle(ctags(1, "sess-b", "c2", 1)),
		enqueue(3000, []*fsmpb.QueueSpec{jobs}, emsgP("m1", "p1", 1, 0), emsgP("m8", "p1", 3, 0)),
		sessionDown("sess-a", "sess-g"),
		tick(70000),
		checkout(jobs, "sess-c", "c", 0, false),
	}
	log := makeQueueLog(t, next...)
	a := replayQueueLog(t, orig, 100, log)
	b := replayQueueLog(t, restored, 100, log)
	for i := range a {
		if na, nb := normalize(a[i]), normalize(b[i]); !reflect.DeepEqual(na, nb) {
			t.Fatalf("command %d: results differ\n orig %+v\n rest %+v", i, na, nb)
		}
	}
	if !bytes.Equal(snapshotBytes(t, orig), snapshotBytes(t, restored)) {
		t.Fatal("snapshots differ after the same commands")
	}
}

// compareViews fails when two groups differ in any read view.
func compareViews(t testing.TB, a, b *QueueGroup) {
	t.Helper()
	if !reflect.DeepEqual(a.Sessions(), b.Sessions()) {
		t.Fatalf("sessions %q vs %q", a.Sessions(), b.Sessions())
	}
	for _, s := range a.Sessions() {
		if da, db := normDeliveries(a.CheckedOut(s)), normDeliveries(b.CheckedOut(s)); !reflect.DeepEqual(da, db) {
			t.Fatalf("checked out of %q:\n%+v\nvs\n%+v", s, da, db)
		}
	}
	if !reflect.DeepEqual(a.Consumers(), b.Consumers()) {
		t.Fatalf("consumers %+v vs %+v", a.Consumers(), b.Consumers())
	}
	if a.NextDeadline() != b.NextDeadline() {
		t.Fatalf("deadline %d vs %d", a.NextDeadline(), b.NextDeadline())
	}
	for _, id := range a.sortedQueueIDs() {
		sa, _ := a.QueueStats(id)
		sb, ok := b.QueueStats(id)
		if !ok || sa != sb {
			t.Fatalf("queue %d stats %+v vs %+v (%t)", id, sa, sb, ok)
		}
	}
	if len(a.queues) != len(b.queues) {
		t.Fatalf("%d queues vs %d", len(a.queues), len(b.queues))
	}
}

func TestQueueSnapshotEmpty(t *testing.T) {
	s := snapshotBytes(t, NewQueueGroup())
	g, err := RestoreQueueGroup(bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, g), s) {
		t.Fatal("empty snapshot does not round-trip")
	}
}

// Every truncation and every single-byte change of a snapshot is refused.
func TestQueueSnapshotCorruption(t *testing.T) {
	s := snapshotBytes(t, goldenQueueGroup(t))
	for n := range len(s) {
		if _, err := RestoreQueueGroup(bytes.NewReader(s[:n])); err == nil {
			t.Fatalf("truncated to %d of %d bytes: restored", n, len(s))
		}
	}
	if _, err := RestoreQueueGroup(bytes.NewReader(append(bytes.Clone(s), 0))); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for i := range s {
		bad := bytes.Clone(s)
		bad[i] ^= 0x41
		_, err := RestoreQueueGroup(bytes.NewReader(bad))
		if err == nil {
			t.Fatalf("byte %d flipped: restored", i)
		}
		if !errors.Is(err, errSnapshot) {
			t.Fatalf("byte %d flipped: error %v does not wrap errSnapshot", i, err)
		}
	}
}

// withTrailer returns body followed by a valid trailer for it, so tests and
// the fuzzer can reach the record decoder past the CRC.
func withTrailer(body []byte) []byte {
	var buf bytes.Buffer
	w := newQsWriter(&buf)
	w.write(body)
	if err := w.finish(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Consistent framing with inconsistent content is refused too.
func TestQueueSnapshotInvalidContent(t *testing.T) {
	header := func(counts ...uint64) []byte {
		var e qsEnc
		e.raw([]byte(qsMagic))
		e.uvarint(qsVersionBodySize)
		e.uvarint(5)
		e.varint(100)
		for _, c := range counts {
			e.uvarint(c)
		}
		return e.b
	}
	rec := func(t byte, body []byte) []byte {
		var e qsEnc
		e.raw([]byte{t})
		e.uvarint(uint64(len(body)))
		e.raw(body)
		return e.b
	}
	tomb := func(id uint64) []byte { var e qsEnc; e.uvarint(id); return rec(qsTombstone, e.b) }
	queue := func(spec *fsmpb.QueueSpec, next uint64, counts ...uint64) []byte {
		var e qsEnc
		if err := e.proto(spec); err != nil {
			t.Fatal(err)
		}
		e.uvarint(next)
		for _, c := range counts {
			e.uvarint(c)
		}
		return rec(qsQueue, e.b)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		body []byte
	}{
		{"no header", tomb(1)},
		{"bad magic", rec(qsHeader, append([]byte("XXXX"), header(0, 0, 0, 0, 0, 0, 0, 0)[4:]...))},
		{"future version", rec(qsHeader, append([]byte(qsMagic), 9))},
		{"version 0", rec(qsHeader, append([]byte(qsMagic), 0))},
		{"header with a trailing byte", rec(qsHeader, append(header(0, 0, 0, 0, 0, 0, 0, 0), 0))},
		{"more records than counted", cat(rec(qsHeader, header(0, 0, 0, 0, 0, 0, 0, 0)), tomb(1))},
		{"fewer records than counted", cat(rec(qsHeader, header(2, 0, 0, 0, 0, 0, 0, 0)), tomb(1))},
		{"tombstones out of order", cat(rec(qsHeader, header(2, 0, 0, 0, 0, 0, 0, 0)), tomb(2), tomb(1))},
		{"tombstone 0", cat(rec(qsHeader, header(1, 0, 0, 0, 0, 0, 0, 0)), tomb(0))},
		{"queue also tombstoned", cat(rec(qsHeader, header(1, 0, 1, 0, 0, 0, 0, 0)), tomb(1), queue(qspec(1, "x"), 0, 0, 0, 0, 0))},
		{"queue id 0", cat(rec(qsHeader, header(0, 0, 1, 0, 0, 0, 0, 0)), queue(qspec(0, "x"), 0, 0, 0, 0, 0))},
		{"ready count with no record", cat(rec(qsHeader, header(0, 0, 1, 1, 0, 0, 0, 0)), queue(qspec(1, "x"), 0, 1, 0, 0, 0))},
		{"too many producers", rec(qsHeader, header(0, DedupMaxProducers+1, 0, 0, 0, 0, 0, 0))},
		{"huge claimed counts", rec(qsHeader, header(1<<62, 0, 1<<62, 1<<62, 0, 0, 0, 0))},
		{"huge record length", cat(rec(qsHeader, header(1, 0, 0, 0, 0, 0, 0, 0)), []byte{qsTombstone, 0xff, 0xff, 0xff, 0xff, 0x0f})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RestoreQueueGroup(bytes.NewReader(withTrailer(tt.body))); !errors.Is(err, errSnapshot) {
				t.Fatalf("error %v, want a corrupt-snapshot error", err)
			}
		})
	}
	// The well-formed baseline of those cases restores.
	ok := cat(rec(qsHeader, header(1, 0, 1, 0, 0, 0, 0, 0)), tomb(1), queue(qspec(2, "x"), 0, 0, 0, 0, 0))
	if _, err := RestoreQueueGroup(bytes.NewReader(withTrailer(ok))); err != nil {
		t.Fatalf("baseline: %v", err)
	}
}
