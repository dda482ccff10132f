package wire

import (
	"encoding/binary"
)

// Method is one AMQP method with its arguments.
type Method interface {
	// ID is the method's class and method id.
	ID() (class, method uint16)
	// Name is class.method as the specification spells it.
	Name() string
	// fields are pointers to the arguments in wire order: *uint8, *uint16,
	// *uint32, *uint64, *string (short string), *[]byte (long string),
	// *bool (bits, packed into octets) or *Table.
	fields() []any
}

// DecodeMethod decodes a method frame's payload. An unknown class or
// method is a CommandInvalid error, a malformed argument list a
// SyntaxError; both close the connection.
func DecodeMethod(payload []byte) (Method, error) {
	d := decoder{b: payload}
	class, id := d.u16(), d.u16()
	if d.err != nil {
		return nil, Errorf(FrameError, "method frame of %d bytes is too short for a class and method id", len(payload))
	}
	m := newMethod(class, id)
	if m == nil {
		return nil, Errorf(CommandInvalid, "unknown method %d.%d", class, id)
	}
	var bits byte
	nbits := 0
	for _, f := range m.fields() {
		if p, ok := f.(*bool); ok {
			if nbits%8 == 0 {
				bits = d.u8()
			}
			*p = bits&(1<<(nbits%8)) != 0
			nbits++
			continue
		}
		nbits = 0
		switch p := f.(type) {
		case *uint8:
			*p = d.u8()
		case *uint16:
			*p = d.u16()
		case *uint32:
			*p = d.u32()
		case *uint64:
			*p = d.u64()
		case *string:
			*p = d.shortstr()
		case *[]byte:
			*p = d.longstr()
		case *Table:
			*p = d.table(0)
		}
	}
	if d.err != nil {
		if e, ok := d.err.(*Error); ok {
			e.Text = m.Name() + ": " + e.Text
		}
		return nil, d.err
	}
	return m, nil
}

// AppendMethod appends m's class and method id and its arguments.
func AppendMethod(b []byte, m Method) []byte {
	class, id := m.ID()
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint16(b, id)
	bitAt, nbits := -1, 0
	for _, f := range m.fields() {
		if p, ok := f.(*bool); ok {
			if nbits%8 == 0 {
				b = append(b, 0)
				bitAt = len(b) - 1
			}
			if *p {
				b[bitAt] |= 1 << (nbits % 8)
			}
			nbits++
			continue
		}
		nbits = 0
		switch p := f.(type) {
		case *uint8:
			b = append(b, *p)
		case *uint16:
			b = binary.BigEndian.AppendUint16(b, *p)
		case *uint32:
			b = binary.BigEndian.AppendUint32(b, *p)
		case *uint64:
			b = binary.BigEndian.AppendUint64(b, *p)
		case *string:
			b = appendShortstr(b, *p)
		case *[]byte:
			b = appendLongstr(b, *p)
		case *Table:
			b = AppendTable(b, *p)
		}
	}
	return b
}

// Properties are the 13 basic properties of a content header (§1.8.2).
// A nil pointer or empty string is a property not given (its flag off).
type Properties struct {
	ContentType     string
	ContentEncoding string
	Headers         Table
	DeliveryMode    uint8
	Priority        uint8
	CorrelationID   string
	ReplyTo         string
	Expiration      string
	MessageID       string
	Timestamp       uint64
	Type            string
	UserID          string
	AppID           string
	ClusterID       string
	// Flags are the property flags as received (which of the above were
	// given), bit 15 content-type … bit 2 cluster-id.
	Flags uint16
}

// Property flag bits, in header order.
const (
	flagContentType     = 1 << 15
	flagContentEncoding = 1 << 14
	flagHeaders         = 1 << 13
	flagDeliveryMode    = 1 << 12
	flagPriority        = 1 << 11
	flagCorrelationID   = 1 << 10
	flagReplyTo         = 1 << 9
	flagExpiration      = 1 << 8
	flagMessageID       = 1 << 7
	flagTimestamp       = 1 << 6
	flagType            = 1 << 5
	flagUserID          = 1 << 4
	flagAppID           = 1 << 3
	flagClusterID       = 1 << 2
)

// HasPriority reports whether the priority property was given.
func (p *Properties) HasPriority() bool { return p.Flags&flagPriority != 0 }

// HasExpiration reports whether the expiration property was given.
func (p *Properties) HasExpiration() bool { return p.Flags&flagExpiration != 0 }

// ContentHeader is a decoded content header frame.
type ContentHeader struct {
	Class      uint16
	BodySize   uint64
	Properties Properties
}

// DecodeContentHeader decodes a content header frame's payload.
func DecodeContentHeader(payload []byte) (ContentHeader, error) {
	d := decoder{b: payload}
	var h ContentHeader
	h.Class = d.u16()
	_ = d.u16() // weight, unused
	h.BodySize = d.u64()
	flags := d.u16()
	if d.err != nil {
		return h, Errorf(FrameError, "content header of %d bytes is too short", len(payload))
	}
	if flags&1 != 0 {
		return h, Errorf(SyntaxError, "content header property flags continue past one word (no basic property needs that)")
	}
	p := &h.Properties
	p.Flags = flags
	str := func(bit uint16, s *string) {
		if flags&bit != 0 {
			*s = d.shortstr()
		}
	}
	str(flagContentType, &p.ContentType)
	str(flagContentEncoding, &p.ContentEncoding)
	if flags&flagHeaders != 0 {
		p.Headers = d.table(0)
	}
	if flags&flagDeliveryMode != 0 {
		p.DeliveryMode = d.u8()
	}
	if flags&flagPriority != 0 {
		p.Priority = d.u8()
	}
	str(flagCorrelationID, &p.CorrelationID)
	str(flagReplyTo, &p.ReplyTo)
	str(flagExpiration, &p.Expiration)
	str(flagMessageID, &p.MessageID)
	if flags&flagTimestamp != 0 {
		p.Timestamp = d.u64()
	}
	str(flagType, &p.Type)
	str(flagUserID, &p.UserID)
	str(flagAppID, &p.AppID)
	str(flagClusterID, &p.ClusterID)
	if d.err != nil {
		return h, d.err
	}
	return h, nil
}

// AppendContentHeader appends a content header's payload. A property is
// sent when it is set (non-empty, non-zero) or its flag is in p.Flags.
func AppendContentHeader(b []byte, class uint16, bodySize uint64, p *Properties) []byte {
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, bodySize)
	flags := p.Flags
	set := func(bit uint16, on bool) {
		if on {
			flags |= bit
		}
	}
	set(flagContentType, p.ContentType != "")
	set(flagContentEncoding, p.ContentEncoding != "")
	set(flagHeaders, len(p.Headers) > 0)
	set(flagDeliveryMode, p.DeliveryMode != 0)
	set(flagPriority, p.Priority != 0)
	set(flagCorrelationID, p.CorrelationID != "")
	set(flagReplyTo, p.ReplyTo != "")
	set(flagExpiration, p.Expiration != "")
	set(flagMessageID, p.MessageID != "")
	set(flagTimestamp, p.Timestamp != 0)
	set(flagType, p.Type != "")
	set(flagUserID, p.UserID != "")
	set(flagAppID, p.AppID != "")
	set(flagClusterID, p.ClusterID != "")
	flags &^= 1
	b = binary.BigEndian.AppendUint16(b, flags)
	if flags&flagContentType != 0 {
		b = appendShortstr(b, p.ContentType)
	}
	if flags&flagContentEncoding != 0 {
		b = appendShortstr(b, p.ContentEncoding)
	}
	if flags&flagHeaders != 0 {
		b = AppendTable(b, p.Headers)
	}
	if flags&flagDeliveryMode != 0 {
		b = append(b, p.DeliveryMode)
	}
	if flags&flagPriority != 0 {
		b = append(b, p.Priority)
	}
	for _, f := range []struct {
		bit uint16
		s   string
	}{{flagCorrelationID, p.CorrelationID}, {flagReplyTo, p.ReplyTo}, {flagExpiration, p.Expiration}, {flagMessageID, p.MessageID}} {
		if flags&f.bit != 0 {
			b = appendShortstr(b, f.s)
		}
	}
	if flags&flagTimestamp != 0 {
		b = binary.BigEndian.AppendUint64(b, p.Timestamp)
	}
	for _, f := range []struct {
		bit uint16
		s   string
	}{{flagType, p.Type}, {flagUserID, p.UserID}, {flagAppID, p.AppID}, {flagClusterID, p.ClusterID}} {
		if flags&f.bit != 0 {
			b = appendShortstr(b, f.s)
		}
	}
	return b
}
