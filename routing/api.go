package routing

// This file pins the package's public API; the matching logic lives in the
// files named after each exchange kind.

import (
	"errors"
	"fmt"
)

// Kind is an exchange kind.
type Kind uint8

// Exchange kinds. The numbers are persisted; never renumber.
const (
	Direct  Kind = 1
	Fanout  Kind = 2
	Topic   Kind = 3
	Headers Kind = 4
)

// ErrBadKind is returned by ParseKind for a name that is no exchange kind.
var ErrBadKind = errors.New("unknown exchange kind")

// ErrBadBinding is wrapped by Bind for a binding a table cannot hold
// (e.g. an invalid x-match value).
var ErrBadBinding = errors.New("invalid binding")

// ParseKind turns "direct", "fanout", "topic" or "headers" into a Kind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "direct":
		return Direct, nil
	case "fanout":
		return Fanout, nil
	case "topic":
		return Topic, nil
	case "headers":
		return Headers, nil
	}
	return 0, fmt.Errorf("%w %q (want direct, fanout, topic or headers)", ErrBadKind, s)
}

// String returns the kind's name as users write it.
func (k Kind) String() string {
	switch k {
	case Direct:
		return "direct"
	case Fanout:
		return "fanout"
	case Topic:
		return "topic"
	case Headers:
		return "headers"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ValueType says which field of a Value is set.
type ValueType uint8

// Value types. ValueNone is a value-less binding argument, which matches on
// the presence of the header key alone.
const (
	ValueNone   ValueType = 0
	ValueString ValueType = 1
	ValueInt    ValueType = 2
	ValueBool   ValueType = 3
	ValueFloat  ValueType = 4
	ValueBytes  ValueType = 5
	// ValueList and ValueTable are AMQP's field array and nested field
	// table, held in Str as the deterministic protobuf encoding of a
	// warren ValueList or ValueTable message (the API's and the log's
	// encode alike). This package never decodes them: they compare, and
	// match in a headers binding, by that encoding.
	ValueList  ValueType = 6
	ValueTable ValueType = 7
)

// Value is a typed header or binding-argument value. It is comparable with
// ==; two values are equal when their types and contents are equal (an int
// 1 does not equal a string "1", as in RabbitMQ). Bytes, lists and tables
// are held in Str.
type Value struct {
	Type  ValueType
	Str   string
	Int   int64
	Bool  bool
	Float float64
}

// Binding is one binding of an exchange to a queue. Its identity is
// (Queue, Key, Args): binding the same triple twice is a no-op.
type Binding struct {
	Queue string
	Key   string
	Args  map[string]Value
}
