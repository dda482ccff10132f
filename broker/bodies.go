package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/broker/bodystore"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// bodyKeeper keeps the message bodies of one queue group on disk
// (--body-store disk), in a bodystore.Store, so that the group's state,
// its snapshots' capture and the Raft log cache are what stays in memory,
// not the backlog.
//
//   - Apply: before the state sees a command, take moves each body of it
//     into the store under (entry index, position in the command) and leaves
//     a BodyRef with the body's length in the payload; the state counts
//     that length as the body's (fsm/bodies.go), so every size, limit and
//     result is what it would be with the body in place.
//   - Handing a message out: a payload reaches a client, a republish or a
//     snapshot only through fill, which reads the body back (a pread; the
//     page cache caches). Deliveries whose message left the state at
//     assignment (auto-ack, a Get without ack) and at-most-once dead
//     letters are filled under the apply lock (fillGone), because once
//     the state no longer refers to a body a snapshot may reclaim it;
//     every other payload handed out is still held by the state (an
//     unacked delivery, an outbox entry) and is filled when it is sent.
//   - Snapshot: capture takes the state's copy-on-write view under the
//     apply lock (O(structure), not O(messages)); Persist, while commands
//     apply, pins the segments the view refers to (and those holding the
//     bodies put since the capture), syncs the store, writes the view
//     without bodies (O(index)) and deletes the segments nothing refers
//     to any more, then copies the live bodies out of the
//     sparse segments it pinned, syncs and deletes those too (bodystore
//     Compact). The restore at start reads the node's own
//     snapshot so; every other read (a follower installing it) goes through
//     complete (raftgroup.SnapshotCompleter), which reads the bodies back
//     in, record by record, into a complete snapshot, which builds before
//     the body store read too (they ignore the BodyRef).
//   - Restore: every body a snapshot carries is put into the store (a key
//     the store has already is kept) and dropped from the state; a
//     reference without a body must name a body the store holds.
//
// Writes at apply are not synced: the Raft log holds every entry up to the
// commit and the entries after the last snapshot are applied again at a
// restart (Put is idempotent); the store is synced before a snapshot that
// refers to it is persisted, and segments go only once a newer snapshot is.
// So a torn or lost tail of the store (bodystore recovers to its last good
// record) holds only bodies the log replay puts again.
type bodyKeeper struct {
	store  *bodystore.Store
	logger hclog.Logger
	// snapshotEvery is how many bytes of bodies may be applied since the
	// last snapshot before take asks for one (kick): a restart, or a
	// follower catching up, re-applies the entries after the snapshot,
	// and Raft reads those into memory at once, so their bytes must stay
	// well under the memory watermark, whatever the entry-count threshold.
	snapshotEvery int64
	// unsnapshotted counts the body bytes taken since the last capture;
	// commands counts the commands applied since then.
	unsnapshotted atomic.Int64
	commands      atomic.Int64
	// kick asks the group's snapshot loop for a snapshot.
	kick chan struct{}
	// recording, between a capture and its Pin (pin), lists the keys
	// taken since the capture: the bodies the state refers to that the
	// captured view does not, which the Pin must keep too. nil when no
	// capture waits for its Pin.
	recMu     sync.Mutex
	recording *[]bodystore.Key
}

// DefaultBodySnapshotBytes is bodyKeeper.snapshotEvery unless configured
// (Config.BodySnapshotBytes).
const DefaultBodySnapshotBytes = 64 << 20

func newBodyKeeper(store *bodystore.Store, every int64, logger hclog.Logger) *bodyKeeper {
	if every <= 0 {
		every = DefaultBodySnapshotBytes
	}
	return &bodyKeeper{store: store, logger: logger, snapshotEvery: every, kick: make(chan struct{}, 1)}
}

func bodyKey(r *fsmpb.BodyRef) bodystore.Key {
	return bodystore.Key{Index: r.GetIndex(), Position: r.GetPosition()}
}

// commandPayloads calls fn with each payload cmd carries, with its
// position among them: the messages of an Enqueue or a DelayMessages (the
// queue group's only commands with payloads).
func commandPayloads(cmd proto.Message, fn func(pos uint32, p *fsmpb.Payload)) {
	switch b := cmd.(type) {
	case *fsmpb.Enqueue:
		for i, m := range b.GetMessages() {
			if p := m.GetPayload(); p != nil {
				fn(uint32(i), p)
			}
		}
	case *fsmpb.DelayMessages:
		for i, m := range b.GetMessages() {
			if p := m.GetPayload(); p != nil {
				fn(uint32(i), p)
			}
		}
	}
}

// dropBodyRefs is what a node keeping bodies in memory does before Apply:
// a BodyRef in a log entry is none of the proposer's business (the
// adapter alone sets it), so it is cleared, and the body counts as it is.
func dropBodyRefs(_ uint64, cmd proto.Message) {
	commandPayloads(cmd, func(_ uint32, p *fsmpb.Payload) { p.BodyRef = nil })
}

// take moves the bodies of the command at index into the store. A body
// the store cannot take (a write error) stays in the payload, in memory,
// with an error logged: the state's results are the same either way.
func (k *bodyKeeper) take(index uint64, cmd proto.Message) {
	k.commands.Add(1)
	commandPayloads(cmd, func(pos uint32, p *fsmpb.Payload) {
		p.BodyRef = nil
		// Every publish carries a Properties, mostly empty: nil reads the
		// same (the getters) and saves the state ~200 bytes a message.
		if pr := p.GetProperties(); pr != nil && proto.Size(pr) == 0 {
			p.Properties = nil
		}
		if len(p.GetBody()) == 0 {
			return
		}
		key := bodystore.Key{Index: index, Position: pos}
		k.record(key) // before the Put: see pin
		if err := k.store.Put(key, p.GetBody()); err != nil {
			k.logger.Error("body store write failed; the body stays in memory", "index", index, "position", pos, "error", err)
			return
		}
		p.BodyRef = &fsmpb.BodyRef{Index: index, Position: pos, Length: uint32(len(p.GetBody()))}
		if k.unsnapshotted.Add(int64(len(p.GetBody()))) >= k.snapshotEvery {
			select {
			case k.kick <- struct{}{}:
			default:
			}
		}
		p.Body = nil
	})
}

// reclaimEvery is how often a group whose body store holds more than the
// segment being written takes a snapshot if it applied anything since the
// last: segments are deleted only when a snapshot is persisted, and a
// queue drained without new publishes may not reach the entry threshold
// for a long time.
const reclaimEvery = 30 * time.Second

// snapshotLoop takes a snapshot of group whenever take asks, and every
// reclaimEvery when segments may be reclaimable, until ctx ends. One at a
// time.
func (k *bodyKeeper) snapshotLoop(ctx context.Context, group interface{ Snapshot() error }) {
	reclaim := time.NewTicker(reclaimEvery)
	defer reclaim.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.kick:
			if k.unsnapshotted.Load() < k.snapshotEvery {
				continue // a threshold snapshot came first
			}
		case <-reclaim.C:
			if k.commands.Load() == 0 || k.store.Stats().Segments < 2 {
				continue
			}
		}
		if err := group.Snapshot(); err != nil && ctx.Err() == nil {
			k.logger.Warn("snapshot after bodies applied failed", "error", err)
		}
	}
}

// fill returns p with its body: p itself when it holds it, else a copy
// sharing everything but the body, read from the store. p is the state's
// and is not modified.
func (k *bodyKeeper) fill(p *fsmpb.Payload) (*fsmpb.Payload, error) {
	r := storedRef(p)
	if r == nil {
		return p, nil
	}
	body, err := k.store.Read(bodyKey(r))
	if err != nil {
		return nil, err
	}
	return withBody(p, body), nil
}

// fillMany is fill for many payloads; the bodies in the store are read
// together (bodystore.ReadMany). ps is not modified.
func (k *bodyKeeper) fillMany(ps []*fsmpb.Payload) ([]*fsmpb.Payload, error) {
	var keys []bodystore.Key
	var at []int // the payloads whose body is read, in keys' order
	for i, p := range ps {
		if r := storedRef(p); r != nil {
			keys, at = append(keys, bodyKey(r)), append(at, i)
		}
	}
	out := slices.Clone(ps)
	if len(keys) == 0 {
		return out, nil
	}
	bodies, err := k.store.ReadMany(keys)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = withBody(ps[i], bodies[j])
	}
	return out, nil
}

// storedRef is p's reference to its body in the store, or nil when p holds
// its body (or has none) and nothing is to be read.
func storedRef(p *fsmpb.Payload) *fsmpb.BodyRef {
	r := p.GetBodyRef()
	if r == nil || len(p.GetBody()) > 0 || r.GetLength() == 0 {
		return nil
	}
	return r
}

// withBody is a copy of p with body, sharing p's other fields (which
// nobody mutates). TestWithBodyCopiesEveryField keeps it complete.
func withBody(p *fsmpb.Payload, body []byte) *fsmpb.Payload {
	return &fsmpb.Payload{
		Body: body, Headers: p.Headers, Properties: p.Properties,
		Exchange: p.Exchange, RoutingKey: p.RoutingKey, BodyRef: p.BodyRef, Redelivered: p.Redelivered,
	}
}

// fillGone fills, in res, the payloads of messages the command removed
// from the state while handing them out: auto-ack deliveries and the Got
// of a Get without ack (when deliveries says so: only a leader sends
// deliveries), and at-most-once dead letters. It runs under the apply
// lock, before any snapshot can reclaim their bodies. A failure is logged
// and leaves the payload as it is; sending it then fails visibly.
func (k *bodyKeeper) fillGone(res *fsm.Result, deliveries bool) {
	if res.Got != nil && res.Got.AutoAck {
		k.fillInPlace(&res.Got.Payload)
	}
	if !deliveries {
		return
	}
	for i := range res.Deliveries {
		if res.Deliveries[i].AutoAck {
			k.fillInPlace(&res.Deliveries[i].Payload)
		}
	}
	for i := range res.DeadLetters {
		if res.DeadLetters[i].OutboxID == 0 {
			k.fillInPlace(&res.DeadLetters[i].Payload)
		}
	}
}

func (k *bodyKeeper) fillInPlace(p **fsmpb.Payload) {
	filled, err := k.fill(*p)
	if err != nil {
		k.logger.Error("body store read failed", "error", err)
		return
	}
	*p = filled
}

// capture is the queue group's raft.FSM Snapshot in disk mode, under the
// state's write lock: the state's copy-on-write view (fsm.QueueGroup.Capture,
// O(its structure), not O(its messages)), serialised without bodies
// (O(index)) by Persist, while commands apply. From here to the Pin in
// Persist the keys taken are recorded (pin).
func (k *bodyKeeper) capture(g *fsm.QueueGroup) (raft.FSMSnapshot, error) {
	view := g.Capture()
	k.unsnapshotted.Store(0)
	k.commands.Store(0)
	rec := new([]bodystore.Key)
	k.recMu.Lock()
	k.recording = rec
	k.recMu.Unlock()
	return &indexSnapshot{view: view, keeper: k, rec: rec}, nil
}

// record lists key if a capture waits for its Pin.
func (k *bodyKeeper) record(key bodystore.Key) {
	k.recMu.Lock()
	if k.recording != nil {
		*k.recording = append(*k.recording, key)
	}
	k.recMu.Unlock()
}

// stopRecording ends the recording rec of a capture, unless a later
// capture's replaced it.
func (k *bodyKeeper) stopRecording(rec *[]bodystore.Key) {
	k.recMu.Lock()
	if k.recording == rec {
		k.recording = nil
	}
	k.recMu.Unlock()
}

// pin pins the segments view refers to, and those holding the bodies
// taken since its capture: the Pin runs after the capture, and a segment
// sealed in between holds bodies the state refers to that view does not;
// pinned from the one being written at the Pin on, it would be deleted
// (DeleteUnpinned) with them. Each key is recorded before its Put, so a
// Put done before the Pin takes the store's lock is listed when the Pin
// reads the list (under that lock), and a Put done after goes to the
// segment being written at the Pin or a later one. The view's walk
// (O(index)) runs without the apply lock.
func (k *bodyKeeper) pin(view *fsm.QueueGroupSnapshot, rec *[]bodystore.Key) bodystore.Pinned {
	defer k.stopRecording(rec)
	return k.store.Pin(func(yield func(bodystore.Key)) {
		view.VisitBodyRefs(func(r *fsmpb.BodyRef) { yield(bodyKey(r)) })
		k.recMu.Lock()
		since := slices.Clip(*rec)
		k.recMu.Unlock()
		for _, key := range since {
			yield(key)
		}
	})
}

// indexSnapshot is a captured state, written without its bodies.
type indexSnapshot struct {
	view   *fsm.QueueGroupSnapshot
	keeper *bodyKeeper
	rec    *[]bodystore.Key // the keys taken since the capture (pin)
}

// Persist pins the segments the snapshot needs (pin), syncs the body
// store, so the bodies the snapshot refers to are on disk before it is,
// then writes the snapshot as captured, all while commands apply. Once it is
// persisted, the segments it does not pin are deleted: no state or
// snapshot to come refers to them (the older snapshot that Raft keeps as
// a fallback may, and is then unusable; see DESIGN.md).
func (s *indexSnapshot) Persist(sink raft.SnapshotSink) error {
	pinned := s.keeper.pin(s.view, s.rec)
	err := s.keeper.store.Sync()
	if err == nil {
		err = s.view.WriteSnapshot(sink)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	n, err := s.keeper.store.DeleteUnpinned(pinned)
	if err != nil {
		s.keeper.logger.Warn("body store: deleting unreferenced segments failed", "error", err)
	} else if n > 0 {
		s.keeper.logger.Debug("body store: deleted unreferenced segments", "segments", n)
	}
	// Copy the live bodies of sparse segments into the segment being
	// written, outside the apply lock (Put waits for one small batch at
	// most), sync, and delete those segments. A failure leaves the bodies
	// where they are, for the next snapshot.
	moved, deleted, err := s.keeper.store.Compact(pinned)
	if err != nil {
		s.keeper.logger.Warn("body store: compacting sparse segments failed", "error", err)
	} else if moved > 0 || deleted > 0 {
		s.keeper.logger.Debug("body store: compacted sparse segments", "bodies", moved, "segments", deleted)
	}
	return nil
}

// Release ends the recording of a capture that was not persisted.
func (s *indexSnapshot) Release() { s.keeper.stopRecording(s.rec) }

// complete is raftgroup.SnapshotCompleter in disk mode: a persisted
// snapshot with its bodies read back in (fsm.CompleteSnapshot), for the
// restore at start and for a follower. A first pass computes the size
// (each body counted by its length, its presence checked); the stream is
// then written as it is read, one record at a time.
func (k *bodyKeeper) complete(_ int64, persisted io.ReadCloser, reopen func() (io.ReadCloser, error)) (int64, io.ReadCloser, error) {
	var zeros []byte
	var count countingWriter
	err := fsm.CompleteSnapshot(&count, persisted, func(p *fsmpb.Payload) (*fsmpb.Payload, error) {
		r := storedRef(p)
		if r == nil {
			return p, nil
		}
		if !k.store.Has(bodyKey(r)) {
			return nil, fmt.Errorf("%w: index %d position %d", bodystore.ErrNotFound, r.GetIndex(), r.GetPosition())
		}
		if int(r.GetLength()) > len(zeros) {
			zeros = make([]byte, r.GetLength())
		}
		return withBody(p, zeros[:r.GetLength()]), nil
	})
	if cerr := persisted.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, err
	}
	src, err := reopen()
	if err != nil {
		return 0, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		err := fsm.CompleteSnapshot(pw, src, k.fill)
		if cerr := src.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return count.n, pr, nil
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// errSnapshotBody is wrapped by the errors of a snapshot whose body
// references do not fit its bodies.
var errSnapshotBody = errors.New("snapshot body does not fit its reference")

// restore reads a snapshot in disk mode, moving every body it carries into
// the store. A payload without a BodyRef (a snapshot of a node keeping
// bodies in memory) keeps its body in the state.
func (k *bodyKeeper) restore(r io.Reader) (*fsm.QueueGroup, error) {
	return fsm.RestoreQueueGroupTaking(r, func(p *fsmpb.Payload) error {
		ref := p.GetBodyRef()
		switch {
		case ref == nil:
			return nil
		case len(p.GetBody()) == 0:
			if ref.GetLength() != 0 && !k.store.Has(bodyKey(ref)) {
				return fmt.Errorf("%w: no body for index %d position %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition())
			}
			if ref.GetLength() == 0 {
				p.BodyRef = nil
			}
			return nil
		case uint64(len(p.GetBody())) != uint64(ref.GetLength()):
			return fmt.Errorf("%w: index %d position %d: %d bytes, reference says %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition(), len(p.GetBody()), ref.GetLength())
		}
		if err := k.store.Put(bodyKey(ref), p.GetBody()); err != nil {
			return err
		}
		p.Body = nil
		return nil
	})
}

// restoreInMemory reads a snapshot on a node keeping bodies in memory:
// a snapshot of a disk node carries each body beside its BodyRef, which is
// dropped.
func restoreInMemory(r io.Reader) (*fsm.QueueGroup, error) {
	return fsm.RestoreQueueGroupTaking(r, func(p *fsmpb.Payload) error {
		if ref := p.GetBodyRef(); ref != nil {
			if len(p.GetBody()) == 0 && ref.GetLength() > 0 {
				return fmt.Errorf("%w: the snapshot refers to bodies in the body store (it was written with --body-store disk); start the node with --body-store disk", errSnapshotBody)
			}
			if uint64(len(p.GetBody())) != uint64(ref.GetLength()) {
				return fmt.Errorf("%w: index %d position %d: %d bytes, reference says %d", errSnapshotBody, ref.GetIndex(), ref.GetPosition(), len(p.GetBody()), ref.GetLength())
			}
			p.BodyRef = nil
		}
		return nil
	})
}
