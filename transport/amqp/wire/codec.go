package wire

import (
	"encoding/binary"
	"math"
	"slices"
)

// decoder reads AMQP's primitive types from a payload, every read checked
// against what is left, so no input can read past its frame or make it
// allocate more than the frame holds.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = Errorf(SyntaxError, format, args...)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%s needs %d bytes, %d left in the frame", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.take(1, "octet"); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2, "short"); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4, "long"); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8, "longlong"); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) shortstr() string {
	n := int(d.u8())
	return string(d.take(n, "short string"))
}

func (d *decoder) longstr() []byte {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.fail("long string of %d bytes, %d left in the frame", n, len(d.b))
		return nil
	}
	return append([]byte(nil), d.take(int(n), "long string")...)
}

// maxNesting bounds how deep tables and arrays may nest, so that a
// hostile header cannot exhaust the stack.
const maxNesting = 16

func (d *decoder) table(depth int) Table {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail("field table of %d bytes, %d left in the frame", n, len(d.b))
		return nil
	}
	if depth > maxNesting {
		d.fail("field tables nest deeper than %d", maxNesting)
		return nil
	}
	sub := decoder{b: d.take(int(n), "field table")}
	t := Table{}
	for len(sub.b) > 0 && sub.err == nil {
		k := sub.shortstr()
		v := sub.value(depth)
		if sub.err == nil {
			t[k] = v
		}
	}
	if sub.err != nil && d.err == nil {
		d.err = sub.err
	}
	return t
}

func (d *decoder) array(depth int) []any {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail("field array of %d bytes, %d left in the frame", n, len(d.b))
		return nil
	}
	if depth > maxNesting {
		d.fail("field arrays nest deeper than %d", maxNesting)
		return nil
	}
	sub := decoder{b: d.take(int(n), "field array")}
	var out []any
	for len(sub.b) > 0 && sub.err == nil {
		v := sub.value(depth)
		if sub.err == nil {
			out = append(out, v)
		}
	}
	if sub.err != nil && d.err == nil {
		d.err = sub.err
	}
	return out
}

// value reads one typed field value, with RabbitMQ's type letters (which
// differ from the 0-9-1 text for the short and unsigned integers; every
// client follows RabbitMQ).
func (d *decoder) value(depth int) any {
	switch t := d.u8(); t {
	case 't':
		return d.u8() != 0
	case 'b':
		return int8(d.u8())
	case 'B':
		return d.u8()
	case 's':
		return int16(d.u16())
	case 'u':
		return d.u16()
	case 'I':
		return int32(d.u32())
	case 'i':
		return d.u32()
	case 'l':
		return int64(d.u64())
	case 'f':
		return math.Float32frombits(d.u32())
	case 'd':
		return math.Float64frombits(d.u64())
	case 'D':
		return Decimal{Scale: d.u8(), Value: int32(d.u32())}
	case 'S':
		return string(d.longstr())
	case 'x':
		return d.longstr()
	case 'A':
		return d.array(depth + 1)
	case 'T':
		return Timestamp(d.u64())
	case 'F':
		return d.table(depth + 1)
	case 'V':
		return nil
	default:
		if d.err == nil {
			d.fail("unknown field value type %q", rune(t))
		}
		return nil
	}
}

// Table is a field table. Values are bool, int8, uint8, int16, uint16,
// int32, uint32, int64, float32, float64, Decimal, string (long string),
// []byte (byte array), []any (field array), Timestamp, Table or nil (void).
type Table map[string]any

// Decimal is a field table's decimal value: Value / 10^Scale.
type Decimal struct {
	Scale uint8
	Value int32
}

// Timestamp is a field table's timestamp: seconds since the Unix epoch.
type Timestamp uint64

func appendShortstr(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255] // callers check lengths they do not control
	}
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func appendLongstr(b []byte, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendTable appends t, its keys in sorted order so the encoding is
// stable.
func AppendTable(b []byte, t Table) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	for _, k := range sortedKeys(t) {
		b = appendShortstr(b, k)
		b = appendValue(b, t[k])
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case bool:
		if x {
			return append(b, 't', 1)
		}
		return append(b, 't', 0)
	case int8:
		return append(b, 'b', byte(x))
	case uint8:
		return append(b, 'B', x)
	case int16:
		return binary.BigEndian.AppendUint16(append(b, 's'), uint16(x))
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, 'u'), x)
	case int32:
		return binary.BigEndian.AppendUint32(append(b, 'I'), uint32(x))
	case uint32:
		return binary.BigEndian.AppendUint32(append(b, 'i'), x)
	case int:
		return binary.BigEndian.AppendUint64(append(b, 'l'), uint64(x))
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 'l'), uint64(x))
	case float32:
		return binary.BigEndian.AppendUint32(append(b, 'f'), math.Float32bits(x))
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 'd'), math.Float64bits(x))
	case Decimal:
		return binary.BigEndian.AppendUint32(append(b, 'D', x.Scale), uint32(x.Value))
	case string:
		return appendLongstr(append(b, 'S'), []byte(x))
	case []byte:
		return appendLongstr(append(b, 'x'), x)
	case []any:
		b = append(b, 'A')
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		for _, e := range x {
			b = appendValue(b, e)
		}
		binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
		return b
	case Timestamp:
		return binary.BigEndian.AppendUint64(append(b, 'T'), uint64(x))
	case Table:
		return AppendTable(append(b, 'F'), x)
	default:
		return append(b, 'V')
	}
}

func sortedKeys(t Table) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DecodeTableBody decodes a field table's content without its length
// prefix (AMQPLAIN's response), or with one when the first four bytes
// give exactly the rest's length (some clients send that).
func DecodeTableBody(b []byte) (Table, error) {
	if len(b) >= 4 && int(binary.BigEndian.Uint32(b)) == len(b)-4 {
		b = b[4:]
	}
	framed := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	d := decoder{b: append(framed, b...)}
	t := d.table(0)
	return t, d.err
}
