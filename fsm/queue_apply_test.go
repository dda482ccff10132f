package fsm

import (
	"errors"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestQueueApplyHandlesEveryType checks the dispatch switch: every queue
// command type is handled (an empty body may be invalid, but is never an
// unknown command), every meta type is refused as unknown, and a missing or
// mistyped body is a malformed command.
func TestQueueApplyHandlesEveryType(t *testing.T) {
	for _, ct := range AllCommandTypes() {
		g := NewQueueGroup()
		res := g.Apply(1, Command{Type: ct, Body: newBody(ct)})
		if ct.IsMeta() {
			if !errors.Is(res.Err, ErrUnknownCommand) {
				t.Errorf("meta type %d: error %v, want ErrUnknownCommand", ct, res.Err)
			}
			continue
		}
		if errors.Is(res.Err, ErrUnknownCommand) || errors.Is(res.Err, ErrBadCommand) {
			t.Errorf("type %d not handled: %v", ct, res.Err)
		}
		if res := g.Apply(2, Command{Type: ct}); !errors.Is(res.Err, ErrBadCommand) {
			t.Errorf("type %d with nil body: %v", ct, res.Err)
		}
		if res := g.Apply(3, Command{Type: ct, Body: &fsmpb.Payload{}}); !errors.Is(res.Err, ErrBadCommand) {
			t.Errorf("type %d with a Payload body: %v", ct, res.Err)
		}
	}
	if res := NewQueueGroup().Apply(1, Command{Type: 99, Body: &fsmpb.Tick{}}); !errors.Is(res.Err, ErrUnknownCommand) {
		t.Errorf("type 99: %v", res.Err)
	}
	var nilEnqueue *fsmpb.Enqueue
	if res := NewQueueGroup().Apply(1, Command{Type: CmdEnqueue, Body: nilEnqueue}); !errors.Is(res.Err, ErrBadCommand) {
		t.Errorf("typed nil body: %v", res.Err)
	}
}
