package cluster

import (
	"bytes"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/fsm"
)

// metaFSM adapts fsm.Meta to raft.FSM. Reads (routing, listing) take the
// read lock; Apply the write lock. appliedCh wakes read-your-writes waiters.
type metaFSM struct {
	groups int
	logger hclog.Logger
	fatal  func(index uint64, err error)

	mu      sync.RWMutex
	state   *fsm.Meta
	applied uint64
	cond    *sync.Cond
}

func newMetaFSM(groups int, logger hclog.Logger, fatal func(uint64, error)) *metaFSM {
	f := &metaFSM{groups: groups, logger: logger, fatal: fatal, state: fsm.NewMeta(groups)}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Apply implements raft.FSM.
func (f *metaFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := fsm.Decode(l.Data)
	if err == nil && !cmd.Type.IsMeta() {
		err = fsm.ErrUnknownCommand
	}
	if err != nil {
		f.fatal(l.Index, err)
		return &fsm.Result{Err: err}
	}
	f.mu.Lock()
	res := f.state.Apply(l.Index, cmd)
	f.applied = l.Index
	f.cond.Broadcast()
	f.mu.Unlock()
	return res
}

// read runs fn with the state under the read lock.
func (f *metaFSM) read(fn func(m *fsm.Meta)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Snapshot implements raft.FSM; the state is serialised under the read lock
// so Persist needs no lock.
func (f *metaFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var buf bytes.Buffer
	if err := f.state.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return &byteSnapshot{data: buf.Bytes()}, nil
}

// Restore implements raft.FSM.
func (f *metaFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	m, err := fsm.RestoreMeta(rc, f.groups)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = m
	f.applied = m.LastIndex()
	f.cond.Broadcast()
	f.mu.Unlock()
	return nil
}

// byteSnapshot is a snapshot already serialised in memory.
type byteSnapshot struct{ data []byte }

func (s *byteSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *byteSnapshot) Release() {}
