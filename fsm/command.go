package fsm

import (
	"fmt"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// CommandType identifies a command in the log. The numbers are persisted:
// never renumber, never reuse a retired number.
type CommandType uint8

// Meta group commands.
const (
	CmdDeclareExchange CommandType = 1
	CmdDeleteExchange  CommandType = 2
	CmdDeclareQueue    CommandType = 3
	CmdDeleteQueue     CommandType = 4
	CmdBind            CommandType = 5
	CmdUnbind          CommandType = 6
	CmdMetaSessionDown CommandType = 7
)

// Queue group commands.
const (
	CmdEnqueue     CommandType = 20
	CmdCheckout    CommandType = 21
	CmdCancel      CommandType = 22
	CmdSettle      CommandType = 23
	CmdReturn      CommandType = 24
	CmdDiscard     CommandType = 25
	CmdSessionDown CommandType = 26
	CmdPurge       CommandType = 27
	CmdTick        CommandType = 28
	CmdGet         CommandType = 29
	CmdDropQueue   CommandType = 30
)

// envelopeVersion is byte 0 of every encoded command.
const envelopeVersion = 1

// Command is one typed log entry. Body's concrete type is fixed by Type
// (see newBody); Encode refuses a mismatch.
type Command struct {
	Type CommandType
	Body proto.Message
}

// newBody returns an empty body for t, or nil for an unknown type.
func newBody(t CommandType) proto.Message {
	switch t {
	case CmdDeclareExchange:
		return &fsmpb.DeclareExchange{}
	case CmdDeleteExchange:
		return &fsmpb.DeleteExchange{}
	case CmdDeclareQueue:
		return &fsmpb.DeclareQueue{}
	case CmdDeleteQueue:
		return &fsmpb.DeleteQueue{}
	case CmdBind:
		return &fsmpb.Bind{}
	case CmdUnbind:
		return &fsmpb.Unbind{}
	case CmdMetaSessionDown:
		return &fsmpb.MetaSessionDown{}
	case CmdEnqueue:
		return &fsmpb.Enqueue{}
	case CmdCheckout:
		return &fsmpb.Checkout{}
	case CmdCancel:
		return &fsmpb.Cancel{}
	case CmdSettle:
		return &fsmpb.Settle{}
	case CmdReturn:
		return &fsmpb.Return{}
	case CmdDiscard:
		return &fsmpb.Discard{}
	case CmdSessionDown:
		return &fsmpb.SessionDown{}
	case CmdPurge:
		return &fsmpb.Purge{}
	case CmdTick:
		return &fsmpb.Tick{}
	case CmdGet:
		return &fsmpb.Get{}
	case CmdDropQueue:
		return &fsmpb.DropQueue{}
	}
	return nil
}

// AllCommandTypes lists every known command type, for exhaustiveness tests.
func AllCommandTypes() []CommandType {
	return []CommandType{
		CmdDeclareExchange, CmdDeleteExchange, CmdDeclareQueue, CmdDeleteQueue,
		CmdBind, CmdUnbind, CmdMetaSessionDown,
		CmdEnqueue, CmdCheckout, CmdCancel, CmdSettle, CmdReturn, CmdDiscard,
		CmdSessionDown, CmdPurge, CmdTick, CmdGet, CmdDropQueue,
	}
}

// IsMeta reports whether t belongs to the meta group's machine.
func (t CommandType) IsMeta() bool { return t >= 1 && t < 20 }

// Encode lays a command out as [envelope version][type][deterministic proto].
func Encode(c Command) ([]byte, error) {
	want := newBody(c.Type)
	if want == nil {
		return nil, fmt.Errorf("%w: type %d", ErrUnknownCommand, c.Type)
	}
	if c.Body == nil || want.ProtoReflect().Descriptor() != c.Body.ProtoReflect().Descriptor() {
		return nil, fmt.Errorf("%w: body of command type %d is %T", ErrBadCommand, c.Type, c.Body)
	}
	buf := make([]byte, 2, 2+proto.Size(c.Body))
	buf[0], buf[1] = envelopeVersion, byte(c.Type)
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, c.Body)
}

// Decode parses what Encode wrote. An unknown version or type, or a body
// that does not parse, is an error: the caller must stop, not skip.
func Decode(data []byte) (Command, error) {
	if len(data) < 2 {
		return Command{}, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(data))
	}
	if data[0] != envelopeVersion {
		return Command{}, fmt.Errorf("%w: envelope version %d", ErrBadCommand, data[0])
	}
	t := CommandType(data[1])
	body := newBody(t)
	if body == nil {
		return Command{}, fmt.Errorf("%w: type %d", ErrUnknownCommand, t)
	}
	if err := proto.Unmarshal(data[2:], body); err != nil {
		return Command{}, fmt.Errorf("%w: type %d: %v", ErrBadCommand, t, err)
	}
	return Command{Type: t, Body: body}, nil
}
