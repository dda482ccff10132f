package fsm

import (
	"fmt"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// CommandType identifies a command in the log. Each type has one body
// message type (newBody, commandType), so in memory a command is just its
// body; the type appears only in the encoding (Encode). The numbers are
// persisted: never renumber, never reuse a retired number.
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
	CmdAddUser         CommandType = 8
	CmdDeleteUser      CommandType = 9
	CmdChangePassword  CommandType = 10
	CmdSetUserTags     CommandType = 11
	CmdSetPermissions  CommandType = 12
	CmdClearPerms      CommandType = 13
	CmdBootstrapUser   CommandType = 14
	CmdAddVHost        CommandType = 15
	CmdDeleteVHost     CommandType = 16
	CmdSetVHostLimits  CommandType = 17
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
	CmdQueueUsed   CommandType = 31
	// 40–49: queue commands of FSM version 3.
	CmdSettleDeadLetters CommandType = 40
	CmdDelayMessages     CommandType = 41
)

// envelopeVersion is byte 0 of every encoded command.
const envelopeVersion = 1

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
	case CmdAddUser:
		return &fsmpb.AddUser{}
	case CmdDeleteUser:
		return &fsmpb.DeleteUser{}
	case CmdChangePassword:
		return &fsmpb.ChangePassword{}
	case CmdSetUserTags:
		return &fsmpb.SetUserTags{}
	case CmdSetPermissions:
		return &fsmpb.SetPermissions{}
	case CmdClearPerms:
		return &fsmpb.ClearPermissions{}
	case CmdBootstrapUser:
		return &fsmpb.BootstrapUser{}
	case CmdAddVHost:
		return &fsmpb.AddVHost{}
	case CmdDeleteVHost:
		return &fsmpb.DeleteVHost{}
	case CmdSetVHostLimits:
		return &fsmpb.SetVHostLimits{}
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
	case CmdQueueUsed:
		return &fsmpb.QueueUsed{}
	case CmdSettleDeadLetters:
		return &fsmpb.SettleDeadLetters{}
	case CmdDelayMessages:
		return &fsmpb.DelayMessages{}
	}
	return nil
}

// AllCommandTypes lists every known command type, for exhaustiveness tests.
func AllCommandTypes() []CommandType {
	return []CommandType{
		CmdDeclareExchange, CmdDeleteExchange, CmdDeclareQueue, CmdDeleteQueue,
		CmdBind, CmdUnbind, CmdMetaSessionDown,
		CmdAddUser, CmdDeleteUser, CmdChangePassword, CmdSetUserTags, CmdSetPermissions, CmdClearPerms,
		CmdBootstrapUser, CmdAddVHost, CmdDeleteVHost, CmdSetVHostLimits,
		CmdEnqueue, CmdCheckout, CmdCancel, CmdSettle, CmdReturn, CmdDiscard,
		CmdSessionDown, CmdPurge, CmdTick, CmdGet, CmdDropQueue, CmdQueueUsed,
		CmdSessionDown, CmdPurge, CmdTick, CmdGet, CmdDropQueue,
		CmdSettleDeadLetters, CmdDelayMessages,
	}
}

// IsMeta reports whether t belongs to the meta group's machine.
func (t CommandType) IsMeta() bool { return t >= 1 && t < 20 }

// commandType returns the command type of body's Go type: the inverse of
// newBody. ok is false for a nil body and for a message that is no command.
// A typed nil pointer (say (*fsmpb.Bind)(nil)) has the type of its pointer.
func commandType(body proto.Message) (t CommandType, ok bool) {
	switch body.(type) {
	case *fsmpb.DeclareExchange:
		return CmdDeclareExchange, true
	case *fsmpb.DeleteExchange:
		return CmdDeleteExchange, true
	case *fsmpb.DeclareQueue:
		return CmdDeclareQueue, true
	case *fsmpb.DeleteQueue:
		return CmdDeleteQueue, true
	case *fsmpb.Bind:
		return CmdBind, true
	case *fsmpb.Unbind:
		return CmdUnbind, true
	case *fsmpb.MetaSessionDown:
		return CmdMetaSessionDown, true
	case *fsmpb.AddUser:
		return CmdAddUser, true
	case *fsmpb.DeleteUser:
		return CmdDeleteUser, true
	case *fsmpb.ChangePassword:
		return CmdChangePassword, true
	case *fsmpb.SetUserTags:
		return CmdSetUserTags, true
	case *fsmpb.SetPermissions:
		return CmdSetPermissions, true
	case *fsmpb.ClearPermissions:
		return CmdClearPerms, true
	case *fsmpb.BootstrapUser:
		return CmdBootstrapUser, true
	case *fsmpb.AddVHost:
		return CmdAddVHost, true
	case *fsmpb.DeleteVHost:
		return CmdDeleteVHost, true
	case *fsmpb.SetVHostLimits:
		return CmdSetVHostLimits, true
	case *fsmpb.Enqueue:
		return CmdEnqueue, true
	case *fsmpb.Checkout:
		return CmdCheckout, true
	case *fsmpb.Cancel:
		return CmdCancel, true
	case *fsmpb.Settle:
		return CmdSettle, true
	case *fsmpb.Return:
		return CmdReturn, true
	case *fsmpb.Discard:
		return CmdDiscard, true
	case *fsmpb.SessionDown:
		return CmdSessionDown, true
	case *fsmpb.Purge:
		return CmdPurge, true
	case *fsmpb.Tick:
		return CmdTick, true
	case *fsmpb.Get:
		return CmdGet, true
	case *fsmpb.DropQueue:
		return CmdDropQueue, true
	case *fsmpb.QueueUsed:
		return CmdQueueUsed, true
	case *fsmpb.SettleDeadLetters:
		return CmdSettleDeadLetters, true
	case *fsmpb.DelayMessages:
		return CmdDelayMessages, true
	}
	return 0, false
}

// IsMeta reports whether body is a command of the meta group's machine
// (false for nil and for a message that is no command). It looks only at
// body's Go type, so a typed nil pointer of a meta command is meta.
func IsMeta(body proto.Message) bool {
	t, ok := commandType(body)
	return ok && t.IsMeta()
}

// isNilBody reports whether body is a typed nil pointer, such as
// (*fsmpb.Enqueue)(nil): a command type without a command.
func isNilBody(body proto.Message) bool {
	return body != nil && !body.ProtoReflect().IsValid()
}

// checkBody returns nil if body can be applied by the meta group's machine
// (meta true) or a queue group's (meta false), and otherwise the error that
// machine gives: ErrUnknownCommand for nil, a message that is no command, or
// a command of the other machine; ErrBadCommand for a typed nil pointer.
func checkBody(body proto.Message, meta bool) error {
	t, ok := commandType(body)
	switch {
	case !ok:
		return errNotCommand(body)
	case t.IsMeta() && !meta:
		return fmt.Errorf("%w: meta command %T (type %d) applied to a queue group", ErrUnknownCommand, body, t)
	case !t.IsMeta() && meta:
		return fmt.Errorf("%w: %T (type %d) is not a meta command", ErrUnknownCommand, body, t)
	case isNilBody(body):
		return errNilBody(t, body)
	}
	return nil
}

// errNotCommand is the error for a nil body or a message that is no command.
func errNotCommand(body proto.Message) error {
	return fmt.Errorf("%w: %T is not a command", ErrUnknownCommand, body)
}

// errNilBody is the error for a typed nil pointer body of command type t.
func errNilBody(t CommandType, body proto.Message) error {
	return fmt.Errorf("%w: body of command type %d is a nil %T", ErrBadCommand, t, body)
}

// Encode lays body out as a log entry: [envelope version][type]
// [deterministic proto], the type derived from body's Go type (see
// newBody). A nil body or a message that is no command is an error wrapping
// ErrUnknownCommand; a typed nil pointer of a command, an error wrapping
// ErrBadCommand (it would decode as an empty body, which is not what the
// caller had).
func Encode(body proto.Message) ([]byte, error) {
	t, ok := commandType(body)
	if !ok {
		return nil, errNotCommand(body)
	}
	if isNilBody(body) {
		return nil, errNilBody(t, body)
	}
	buf := make([]byte, 2, 2+proto.Size(body))
	buf[0], buf[1] = envelopeVersion, byte(t)
	return proto.MarshalOptions{Deterministic: true}.MarshalAppend(buf, body)
}

// Decode parses what Encode wrote and returns the command's body, whose Go
// type gives the command type. An unknown version or type, or a body that
// does not parse, is an error: the caller must stop, not skip.
func Decode(data []byte) (proto.Message, error) {
	if len(data) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(data))
	}
	if data[0] != envelopeVersion {
		return nil, fmt.Errorf("%w: envelope version %d", ErrBadCommand, data[0])
	}
	t := CommandType(data[1])
	body := newBody(t)
	if body == nil {
		return nil, fmt.Errorf("%w: type %d", ErrUnknownCommand, t)
	}
	if err := proto.Unmarshal(data[2:], body); err != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrBadCommand, t, err)
	}
	return body, nil
}
