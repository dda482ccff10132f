package cluster

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/dispatch"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// queueFSM adapts fsm.QueueGroup to raft.FSM. On the leader it hands each
// result's deliveries to the group's dispatcher inside the apply lock, so
// they reach streams in log order; dead letters go to the node for
// republishing.
type queueFSM struct {
	fatal      func(index uint64, err error)
	deadLetter func([]fsm.DeadLetter)
	idle       func([]uint64)

	disp atomic.Pointer[dispatch.Dispatcher]

	mu    sync.RWMutex
	state *fsm.QueueGroup
}

func newQueueFSM(fatal func(uint64, error), deadLetter func([]fsm.DeadLetter), idle func([]uint64)) *queueFSM {
	return &queueFSM{fatal: fatal, deadLetter: deadLetter, idle: idle, state: fsm.NewQueueGroup()}
}

// Apply implements raft.FSM.
func (f *queueFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := fsm.Decode(l.Data)
	if err == nil && cmd.Type.IsMeta() {
		err = fsm.ErrUnknownCommand
	}
	if err != nil {
		f.fatal(l.Index, err)
		return &fsm.Result{Err: err}
	}
	f.mu.Lock()
	res := f.state.Apply(l.Index, cmd)
	d := f.disp.Load()
	if d != nil {
		switch b := cmd.Body.(type) {
		case *fsmpb.SessionDown:
			d.EndSessions(b.GetSessions())
		case *fsmpb.Cancel:
			d.EndConsumer(dispatch.Key{Queue: b.GetQueue(), Session: b.GetSession(), Tag: b.GetConsumerTag()})
		}
		d.Deliver(res.Deliveries)
	}
	f.mu.Unlock()
	if d != nil && len(res.DeadLetters) > 0 {
		f.deadLetter(res.DeadLetters)
	}
	if d != nil && len(res.IdleQueues) > 0 {
		f.idle(res.IdleQueues)
	}
	return res
}

func (f *queueFSM) read(fn func(g *fsm.QueueGroup)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Snapshot implements raft.FSM.
func (f *queueFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var buf bytes.Buffer
	if err := f.state.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return &byteSnapshot{data: buf.Bytes()}, nil
}

// Restore implements raft.FSM.
func (f *queueFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	g, err := fsm.RestoreQueueGroup(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = g
	f.mu.Unlock()
	return nil
}
