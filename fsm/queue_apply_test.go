package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// nilBody returns a typed nil pointer of command type ct's body type, such
// as (*fsmpb.Enqueue)(nil).
func nilBody(ct CommandType) proto.Message {
	return reflect.Zero(reflect.TypeOf(newBody(ct))).Interface().(proto.Message)
}

// TestQueueApplyHandlesEveryType checks the dispatch switch: every queue
// command type is handled (an empty body may be invalid, but is never an
// unknown command), every meta type is refused as unknown, a typed nil body
// of a queue type is a malformed command, and a missing body or a message
// that is no command is unknown.
func TestQueueApplyHandlesEveryType(t *testing.T) {
	for _, ct := range AllCommandTypes() {
		g := NewQueueGroup()
		res := g.Apply(1, newBody(ct))
		if ct.IsMeta() {
			if !errors.Is(res.Err, ErrUnknownCommand) {
				t.Errorf("meta type %d: error %v, want ErrUnknownCommand", ct, res.Err)
			} else if !strings.Contains(res.Err.Error(), "applied to a queue group") {
				t.Errorf("meta type %d: error %q does not say it is a meta command", ct, res.Err)
			}
			if res := g.Apply(2, nilBody(ct)); !errors.Is(res.Err, ErrUnknownCommand) {
				t.Errorf("meta type %d with a typed nil body: error %v, want ErrUnknownCommand", ct, res.Err)
			}
			continue
		}
		if errors.Is(res.Err, ErrUnknownCommand) || errors.Is(res.Err, ErrBadCommand) {
			t.Errorf("type %d not handled: %v", ct, res.Err)
		}
		if res := g.Apply(2, nilBody(ct)); !errors.Is(res.Err, ErrBadCommand) {
			t.Errorf("type %d with a typed nil body %T: %v", ct, nilBody(ct), res.Err)
		}
	}
	// A body that is no command: nil, or a message of another kind.
	for _, body := range []proto.Message{nil, &fsmpb.Payload{}, &fsmpb.QueueSpec{}} {
		if res := NewQueueGroup().Apply(1, body); !errors.Is(res.Err, ErrUnknownCommand) {
			t.Errorf("body %T: %v, want ErrUnknownCommand", body, res.Err)
		}
	}
	var nilEnqueue *fsmpb.Enqueue
	if res := NewQueueGroup().Apply(1, nilEnqueue); !errors.Is(res.Err, ErrBadCommand) {
		t.Errorf("typed nil body: %v", res.Err)
	}
}

// TestQueueLastIndex checks that LastIndex is the highest index applied,
// refused commands included, and that a snapshot carries it.
func TestQueueLastIndex(t *testing.T) {
	g := NewQueueGroup()
	if got := g.LastIndex(); got != 0 {
		t.Fatalf("new group: LastIndex %d, want 0", got)
	}
	g.Apply(5, tick(10))
	if got := g.LastIndex(); got != 5 {
		t.Fatalf("after index 5: LastIndex %d", got)
	}
	g.Apply(3, tick(11)) // never moves back
	if got := g.LastIndex(); got != 5 {
		t.Fatalf("after index 3: LastIndex %d, want 5", got)
	}
	if res := g.Apply(7, &fsmpb.Bind{}); res.Err == nil {
		t.Fatal("a meta command applied to a queue group")
	}
	if got := g.LastIndex(); got != 7 {
		t.Fatalf("after a refused command at index 7: LastIndex %d", got)
	}
	golden := goldenQueueGroup(t)
	restored, err := RestoreQueueGroup(bytes.NewReader(snapshotBytes(t, golden)))
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(goldenQueueLog())); golden.LastIndex() != want || restored.LastIndex() != want {
		t.Fatalf("LastIndex %d, restored %d, want %d", golden.LastIndex(), restored.LastIndex(), want)
	}
}
