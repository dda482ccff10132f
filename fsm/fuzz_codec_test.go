package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// decodeLenient is Decode without protobuf's UTF-8 check of string fields:
// it parses the envelope as Decode does and the body with unmarshalLenient.
// The fuzz targets use it for entries Decode refuses, so that Apply also
// meets what a body built in Go can hold (an invalid UTF-8 name), which no
// decoded entry can.
func decodeLenient(data []byte) (proto.Message, error) {
	if len(data) < 2 || data[0] != envelopeVersion {
		return nil, ErrBadCommand
	}
	body := newBody(CommandType(data[1]))
	if body == nil {
		return nil, ErrUnknownCommand
	}
	if err := unmarshalLenient(data[2:], body.ProtoReflect(), 0); err != nil {
		return nil, err
	}
	return body, nil
}

// unmarshalLenient fills m from the wire bytes b like proto.Unmarshal, for
// the field kinds of fsm.proto, but takes string fields as they come.
// Unknown fields are skipped; a field whose wire type does not fit its kind
// is an error.
func unmarshalLenient(b []byte, m protoreflect.Message, depth int) error {
	if depth > 16 {
		return errors.New("nested too deep")
	}
	fields := m.Descriptor().Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		fd := fields.ByNumber(num)
		if fd == nil {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		var err error
		switch typ {
		case protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			err = setScalar(m, fd, v)
		case protowire.Fixed64Type:
			var v uint64
			v, n = protowire.ConsumeFixed64(b)
			err = setScalar(m, fd, v)
		case protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				err = setBytes(m, fd, v, depth)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			err = fmt.Errorf("field %d: wire type %d", num, typ)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// scalarValue converts a varint or fixed64 to fd's kind.
func scalarValue(fd protoreflect.FieldDescriptor, v uint64) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(v != 0), nil
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(v)), nil
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(v)), nil
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(v), nil
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(uint32(v)), nil
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(v))), nil
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(math.Float64frombits(v)), nil
	}
	return protoreflect.Value{}, fmt.Errorf("field %s: a number for kind %v", fd.Name(), fd.Kind())
}

// setScalar sets (or appends to a list) a number field.
func setScalar(m protoreflect.Message, fd protoreflect.FieldDescriptor, v uint64) error {
	if fd.IsMap() {
		return fmt.Errorf("field %s: a number for a map", fd.Name())
	}
	val, err := scalarValue(fd, v)
	if err != nil {
		return err
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(val)
		return nil
	}
	m.Set(fd, val)
	return nil
}

func setBytes(m protoreflect.Message, fd protoreflect.FieldDescriptor, v []byte, depth int) error {
	switch {
	case fd.IsMap():
		return setMapEntry(m.Mutable(fd).Map(), fd, v, depth)
	case fd.IsList() && fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.BytesKind:
		// Packed numbers.
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if err := setScalar(m, fd, x); err != nil {
				return err
			}
			v = v[n:]
		}
		return nil
	}
	val, err := bytesValue(m, fd, v, depth)
	if err != nil {
		return err
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(val)
		return nil
	}
	if fd.Kind() == protoreflect.MessageKind && m.Has(fd) {
		// A repeated occurrence of a message field merges into it.
		return unmarshalLenient(v, m.Mutable(fd).Message(), depth+1)
	}
	m.Set(fd, val)
	return nil
}

// bytesValue makes a string, bytes or message value of fd from v.
func bytesValue(m protoreflect.Message, fd protoreflect.FieldDescriptor, v []byte, depth int) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(v)), nil
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(bytes.Clone(v)), nil
	case protoreflect.MessageKind:
		var sub protoreflect.Message
		if fd.IsList() {
			sub = m.Mutable(fd).List().NewElement().Message()
		} else {
			sub = m.NewField(fd).Message()
		}
		if err := unmarshalLenient(v, sub, depth+1); err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfMessage(sub), nil
	}
	return protoreflect.Value{}, fmt.Errorf("field %s: bytes for kind %v", fd.Name(), fd.Kind())
}

// setMapEntry parses one map entry (key 1: string, value 2: message).
func setMapEntry(mp protoreflect.Map, fd protoreflect.FieldDescriptor, v []byte, depth int) error {
	key := ""
	val := mp.NewValue()
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		v = v[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n = protowire.ConsumeFieldValue(num, typ, v)
			if n < 0 {
				return protowire.ParseError(n)
			}
			v = v[n:]
			continue
		}
		b, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		v = v[n:]
		if num == 1 {
			key = string(b)
			continue
		}
		if fd.MapValue().Kind() != protoreflect.MessageKind {
			return fmt.Errorf("map %s: value kind %v", fd.Name(), fd.MapValue().Kind())
		}
		if err := unmarshalLenient(b, val.Message(), depth+1); err != nil {
			return err
		}
	}
	mp.Set(protoreflect.ValueOfString(key).MapKey(), val)
	return nil
}

// rawEntry encodes a command like Encode, but marshals the body with
// appendLenient, which writes strings as they are: how the fuzz seeds carry
// an invalid UTF-8 name, which proto.Marshal refuses.
func rawEntry(body proto.Message) []byte {
	t, ok := commandType(body)
	if !ok {
		panic(fmt.Sprintf("%T is no command", body))
	}
	return appendLenient([]byte{envelopeVersion, byte(t)}, body.ProtoReflect())
}

// appendLenient appends m's wire form, fields in number order, map entries
// in key order; strings are written without a UTF-8 check.
func appendLenient(b []byte, m protoreflect.Message) []byte {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			mp := v.Map()
			keys := make(map[string]protoreflect.Value, mp.Len())
			mp.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				keys[k.String()] = mv
				return true
			})
			for _, k := range sortedKeys(keys) {
				entry := protowire.AppendTag(nil, 1, protowire.BytesType)
				entry = protowire.AppendString(entry, k)
				entry = protowire.AppendTag(entry, 2, protowire.BytesType)
				entry = protowire.AppendBytes(entry, appendLenient(nil, keys[k].Message()))
				b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
				b = protowire.AppendBytes(b, entry)
			}
		case fd.IsList():
			l := v.List()
			for j := range l.Len() {
				b = appendValue(b, fd, l.Get(j))
			}
		default:
			b = appendValue(b, fd, v)
		}
	}
	return b
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.StringKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
		return protowire.AppendString(b, v.String())
	case protoreflect.BytesKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
		return protowire.AppendBytes(b, v.Bytes())
	case protoreflect.MessageKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
		return protowire.AppendBytes(b, appendLenient(nil, v.Message()))
	case protoreflect.BoolKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case protoreflect.Int64Kind, protoreflect.Int32Kind:
		b = protowire.AppendTag(b, fd.Number(), protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v.Int()))
	case protoreflect.Uint64Kind, protoreflect.Uint32Kind:
		b = protowire.AppendTag(b, fd.Number(), protowire.VarintType)
		return protowire.AppendVarint(b, v.Uint())
	case protoreflect.EnumKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v.Enum()))
	case protoreflect.DoubleKind:
		b = protowire.AppendTag(b, fd.Number(), protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(v.Float()))
	}
	panic(fmt.Sprintf("field %s: kind %v", fd.Name(), fd.Kind()))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// The two commands of the security review (issue 9): a queue named with
// invalid UTF-8, and one with a 204,800-byte name.
func invalidUTF8Declare() *fsmpb.DeclareQueue {
	return &fsmpb.DeclareQueue{Name: "bad-\xff\xfe-name"}
}

func hugeNameDeclare() *fsmpb.DeclareQueue {
	return &fsmpb.DeclareQueue{Name: strings.Repeat("q", 204800)}
}

// TestLenientCodecRoundTrip checks the fuzz harness's codec: what rawEntry
// writes, decodeLenient reads back equal, invalid UTF-8 included, and for
// valid bodies it agrees with Encode and Decode.
func TestLenientCodecRoundTrip(t *testing.T) {
	bodies := append(metaSeedLog(), goldenQueueLog()...)
	for i, body := range bodies {
		got, err := decodeLenient(rawEntry(body))
		if err != nil || !proto.Equal(got, body) {
			t.Fatalf("body %d (%T): %v, %v", i, body, got, err)
		}
		enc, err := Encode(body)
		if err != nil {
			t.Fatal(err)
		}
		if dec, err := Decode(rawEntry(body)); err != nil || !proto.Equal(dec, body) {
			t.Fatalf("body %d (%T): Decode of the lenient encoding: %v, %v", i, body, dec, err)
		}
		if got, err := decodeLenient(enc); err != nil || !proto.Equal(got, body) {
			t.Fatalf("body %d (%T): decodeLenient of Encode: %v, %v", i, body, got, err)
		}
	}
	for _, body := range []*fsmpb.DeclareQueue{invalidUTF8Declare(), hugeNameDeclare()} {
		got, err := decodeLenient(rawEntry(body))
		if err != nil || !proto.Equal(got, body) {
			t.Fatalf("name of %d bytes: %v", len(body.GetName()), err)
		}
	}
	if _, err := Decode(rawEntry(invalidUTF8Declare())); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("Decode of an invalid UTF-8 name: %v, want ErrBadCommand", err)
	}
}
