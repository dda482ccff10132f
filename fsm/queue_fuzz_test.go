package fsm

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// FuzzRestoreQueueGroup feeds arbitrary bytes to RestoreQueueGroup: it must
// never panic. Each input is also tried with a valid trailer appended, so the
// fuzzer gets past the CRC into the record decoder. Whatever restores must
// write back a snapshot that restores to the same bytes, and must survive
// further commands.
func FuzzRestoreQueueGroup(f *testing.F) {
	for _, s := range queueSnapshotSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exerciseRestored(t, data)
		exerciseRestored(t, withTrailer(data))
	})
}

func exerciseRestored(t *testing.T, data []byte) {
	g, err := RestoreQueueGroup(bytes.NewReader(data))
	if err != nil {
		return
	}
	s1 := snapshotBytes(t, g)
	g2, err := RestoreQueueGroup(bytes.NewReader(s1))
	if err != nil {
		t.Fatalf("a restored state's snapshot does not restore: %v", err)
	}
	if s2 := snapshotBytes(t, g2); !bytes.Equal(s1, s2) {
		t.Fatal("snapshot of a restored state is not stable")
	}
	// The restored state must take further commands without panicking.
	idx := g.lastIndex + 1
	for _, s := range g.Sessions() {
		items := []*fsmpb.ConsumerTags{}
		for _, d := range g.CheckedOut(s) {
			items = append(items, ctags(d.Queue, d.Session, d.ConsumerTag, d.Tag))
		}
		g.Apply(idx, retrn(items...))
		idx++
	}
	for _, id := range g.sortedQueueIDs() {
		spec := proto.Clone(g.queues[id].spec).(*fsmpb.QueueSpec)
		g.Apply(idx, enqueue1(g.lastNow+1, spec, "x"))
		g.Apply(idx+1, checkout(spec, "fuzz", "c", 1, false))
		g.Apply(idx+2, get(spec, "fuzz", false, g.lastNow+5, 0))
		idx += 3
	}
	g.Apply(idx, tick(g.NextDeadline()))
	g.Apply(idx+1, sessionDown(g.Sessions()...))
	g.Consumers()
	snapshotBytes(t, g)
}

// FuzzQueueApply decodes arbitrary bytes as a log — entries framed as
// [uvarint length][entry] — and applies what decodes to two replicas: no
// panic, identical results, identical snapshots that round-trip. An entry
// Decode refuses is decoded again without protobuf's UTF-8 check
// (decodeLenient), as a body built in Go could be. A command refused
// (Result.Err) must leave the snapshot as it was, and the session index
// must equal its recomputation after every command.
func FuzzQueueApply(f *testing.F) {
	for _, s := range queueLogSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := NewQueueGroup(), NewQueueGroup()
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
			before := queueSnapshotAt(t, a, idx)
			ra := a.Apply(idx, cmd)
			cmd2, _ := decode(entry) // a fresh copy: replicas share nothing
			rb := b.Apply(idx, cmd2)
			if na, nb := normalize(ra), normalize(rb); !reflect.DeepEqual(na, nb) {
				t.Fatalf("entry %d: replicas differ\n%+v\n%+v", idx, na, nb)
			}
			if ra.Err != nil && !bytes.Equal(before, snapshotBytes(t, a)) {
				t.Fatalf("entry %d (%T) was refused (%v) but changed the state", idx, cmd, ra.Err)
			}
			if err := checkSessionIndex(a); err != nil {
				t.Fatalf("after entry %d (%T): %v", idx, cmd, err)
			}
			if err := checkOutbox(a); err != nil {
				t.Fatalf("after entry %d (%T): %v", idx, cmd, err)
			}
		}
		sa := snapshotBytes(t, a)
		if !bytes.Equal(sa, snapshotBytes(t, b)) {
			t.Fatal("replica snapshots differ")
		}
		r, err := RestoreQueueGroup(bytes.NewReader(sa))
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		if !bytes.Equal(sa, snapshotBytes(t, r)) {
			t.Fatal("snapshot does not round-trip")
		}
		if err := checkSessionIndex(r); err != nil {
			t.Fatalf("restored: %v", err)
		}
		if err := checkOutbox(r); err != nil {
			t.Fatalf("restored: %v", err)
		}
	})
}

// checkSessionIndex recomputes the session index from every queue's
// consumers and get-holders and compares it with the one the commands (or
// the restore) kept.
func checkSessionIndex(g *QueueGroup) error {
	want := map[string]map[uint64]map[string]struct{}{}
	add := func(s string, q uint64, tag string) {
		if want[s] == nil {
			want[s] = map[uint64]map[string]struct{}{}
		}
		if want[s][q] == nil {
			want[s][q] = map[string]struct{}{}
		}
		want[s][q][tag] = struct{}{}
	}
	for id, q := range g.queues {
		for k := range q.consumers {
			add(k.session, id, k.tag)
		}
		for s := range q.gets {
			add(s, id, "")
		}
	}
	if !reflect.DeepEqual(want, g.sessions) {
		return fmt.Errorf("session index %v, recomputed %v", g.sessions, want)
	}
	for s := range want {
		if !g.HasSession(s) {
			return fmt.Errorf("HasSession(%q) is false", s)
		}
	}
	// Consumers reads the index; a walk of every queue must agree.
	var scan []ConsumerInfo
	for _, qid := range g.sortedQueueIDs() {
		q := g.queues[qid]
		start := len(scan)
		for c := q.first; c != nil; c = c.next {
			scan = append(scan, ConsumerInfo{Queue: qid, Session: c.session, Tag: c.tag, Prefetch: c.prefetch, AutoAck: c.autoAck, Unacked: len(c.out)})
		}
		slices.SortFunc(scan[start:], func(a, b ConsumerInfo) int {
			return cmp.Or(cmp.Compare(a.Session, b.Session), cmp.Compare(a.Tag, b.Tag))
		})
	}
	if got := g.Consumers(); !reflect.DeepEqual(got, scan) {
		return fmt.Errorf("Consumers %+v, walking the queues %+v", got, scan)
	}
	return nil
}

// queueSnapshotAt is g's snapshot as it would be with LastIndex raised to
// index, as Apply at index raises it first: the snapshot a command refused
// at index must leave.
func queueSnapshotAt(t testing.TB, g *QueueGroup, index uint64) []byte {
	t.Helper()
	saved := g.lastIndex
	g.lastIndex = max(saved, index)
	defer func() { g.lastIndex = saved }()
	return snapshotBytes(t, g)
}

// frameLog frames encoded entries as FuzzQueueApply reads them.
func frameLog(entries [][]byte) []byte {
	var out []byte
	for _, e := range entries {
		out = binary.AppendUvarint(out, uint64(len(e)))
		out = append(out, e...)
	}
	return out
}

func queueSnapshotSeeds(t testing.TB) [][]byte {
	golden := snapshotBytes(t, goldenQueueGroup(t))
	g := NewQueueGroup()
	replayQueueLog(t, g, 1, makeQueueLog(t, outboxLog()...))
	return [][]byte{
		snapshotBytes(t, NewQueueGroup()),
		golden,
		golden[:len(golden)-6], // without its trailer: the fuzzer's trailer makes it valid
		[]byte("WQGS"),
		snapshotBytes(t, g), // with an outbox section
	}
}

// outboxLog dead-letters at least once into the outbox and settles one.
func outboxLog() []proto.Message {
	alo := qspec(1, "alo", withMaxLen(3), withReject(), withDLX("dlx", "k"), func(s *fsmpb.QueueSpec) {
		s.DeadLetterStrategy = fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE
	})
	return []proto.Message{
		enqueue1(10, alo, "a", "b", "c"), checkout(alo, "s", "c", 0, false),
		discard(ctags(1, "s", "c", 1, 2)), &fsmpb.SettleDeadLetters{Ids: []uint64{1, 7}},
		enqueue1(11, alo, "d", "e"),
	}
}

func queueLogSeeds(t testing.TB) [][]byte {
	log := makeQueueLog(t, goldenQueueLog()...)
	seeds := [][]byte{frameLog(log)}
	for _, e := range log[:4] {
		seeds = append(seeds, frameLog([][]byte{e}))
	}
	seeds = append(seeds, frameLog(makeQueueLog(t, outboxLog()...)))
	jobs := qspec(1, "jobs", withMaxLen(2), withTTL(0))
	seeds = append(seeds, frameLog(makeQueueLog(t,
		checkout(jobs, "a", "c", 1, true), enqueue1(10, jobs, "m1", "m2", "m3"),
		settle(ctags(1, "a", "c", 1)), sessionDown("a"), tick(20), &fsmpb.Purge{Queue: 1})))
	// Past the limits (issue 9): a queue spec named with invalid UTF-8, a
	// consumer tag one byte too long, a message with too many headers, a
	// session id one byte too long — between valid commands, which must
	// apply as if the refused ones were not there.
	bad := qspec(2, "bad-\xff-name")
	headers := map[string]*fsmpb.Value{}
	for i := range MaxArgs + 1 {
		headers[fmt.Sprintf("h%d", i)] = &fsmpb.Value{}
	}
	tooMany := emsg("h", 0)
	tooMany.Payload.Headers = headers
	seeds = append(seeds, frameLog([][]byte{
		rawEntry(checkout(jobs, "a", "c", 0, false)),
		rawEntry(enqueue1(10, bad, "m1")),
		rawEntry(checkout(jobs, "a", strings.Repeat("t", MaxNameBytes+1), 0, false)),
		rawEntry(enqueue(11, []*fsmpb.QueueSpec{jobs}, emsg("m2", 0), tooMany)),
		rawEntry(sessionDown(strings.Repeat("s", MaxSessionIDBytes+1), "a")),
	}))
	return seeds
}

// TestWriteQueueFuzzSeeds writes the seed corpora under testdata/fuzz with
// -update, so the committed corpus follows the format.
func TestWriteQueueFuzzSeeds(t *testing.T) {
	if !updateFiles() {
		t.Skip("run with -update to rewrite the seed corpora")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzRestoreQueueGroup": queueSnapshotSeeds(t),
		"FuzzQueueApply":        queueLogSeeds(t),
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
