package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frame types (AMQP 0-9-1 §4.2.3).
const (
	FrameMethod    = 1
	FrameHeader    = 2
	FrameBody      = 3
	FrameHeartbeat = 8
	frameEnd       = 0xCE
)

// ProtocolHeader is what a client sends first.
var ProtocolHeader = []byte{'A', 'M', 'Q', 'P', 0, 0, 9, 1}

// MinFrameMax is the smallest frame-max a peer may agree to (§4.2.1).
const MinFrameMax = 4096

// frameOverhead is a frame's header (type, channel, size) and end octet.
const frameOverhead = 8

// Frame is one frame as it crossed the wire.
type Frame struct {
	Type    uint8
	Channel uint16
	Payload []byte
}

// ReadFrame reads one frame of at most frameMax bytes (its header and end
// octet included). The size is checked before the payload is allocated, so
// a hostile size costs nothing; a wrong end octet is a framing error.
func ReadFrame(r *bufio.Reader, frameMax uint32) (Frame, error) {
	var h [7]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Type: h[0], Channel: binary.BigEndian.Uint16(h[1:3])}
	size := binary.BigEndian.Uint32(h[3:7])
	if uint64(size)+frameOverhead > uint64(frameMax) {
		return Frame{}, Errorf(FrameError, "frame of %d bytes exceeds the negotiated frame-max of %d", uint64(size)+frameOverhead, frameMax)
	}
	switch f.Type {
	case FrameMethod, FrameHeader, FrameBody, FrameHeartbeat:
	default:
		return Frame{}, Errorf(FrameError, "unknown frame type %d", f.Type)
	}
	f.Payload = make([]byte, size)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return Frame{}, err
	}
	end, err := r.ReadByte()
	if err != nil {
		return Frame{}, err
	}
	if end != frameEnd {
		return Frame{}, Errorf(FrameError, "frame end octet is 0x%02x, want 0xCE", end)
	}
	return f, nil
}

// AppendFrame appends f, framed, to buf.
func AppendFrame(buf []byte, typ uint8, channel uint16, payload []byte) []byte {
	buf = append(buf, typ)
	buf = binary.BigEndian.AppendUint16(buf, channel)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = append(buf, payload...)
	return append(buf, frameEnd)
}

// AppendMethodFrame appends m as a method frame on channel.
func AppendMethodFrame(buf []byte, channel uint16, m Method) []byte {
	start := len(buf)
	buf = append(buf, FrameMethod, byte(channel>>8), byte(channel), 0, 0, 0, 0)
	buf = AppendMethod(buf, m)
	binary.BigEndian.PutUint32(buf[start+3:], uint32(len(buf)-start-7))
	return append(buf, frameEnd)
}

// AppendContent appends a content header frame and the body frames of a
// message on channel, each body frame within frameMax.
func AppendContent(buf []byte, channel uint16, frameMax uint32, props *Properties, body []byte) []byte {
	start := len(buf)
	buf = append(buf, FrameHeader, byte(channel>>8), byte(channel), 0, 0, 0, 0)
	buf = AppendContentHeader(buf, ClassBasic, uint64(len(body)), props)
	binary.BigEndian.PutUint32(buf[start+3:], uint32(len(buf)-start-7))
	buf = append(buf, frameEnd)
	chunk := int(frameMax) - frameOverhead
	for len(body) > 0 {
		n := min(chunk, len(body))
		buf = AppendFrame(buf, FrameBody, channel, body[:n])
		body = body[n:]
	}
	return buf
}

// Reply codes (AMQP 0-9-1 §1.1 constants). Channel-level codes close a
// channel; the others close the connection.
const (
	ReplySuccess       = 200
	ContentTooLarge    = 311
	NoRoute            = 312
	NoConsumers        = 313
	ConnectionForced   = 320
	InvalidPath        = 402
	AccessRefused      = 403
	NotFound           = 404
	ResourceLocked     = 405
	PreconditionFailed = 406
	FrameError         = 501
	SyntaxError        = 502
	CommandInvalid     = 503
	ChannelError       = 504
	UnexpectedFrame    = 505
	ResourceError      = 506
	NotAllowed         = 530
	NotImplemented     = 540
	InternalError      = 541
)

// Error is a protocol error with its reply code.
type Error struct {
	Code uint16
	Text string
}

func (e *Error) Error() string { return fmt.Sprintf("%s - %s", CodeName(e.Code), e.Text) }

// Errorf returns an *Error with code.
func Errorf(code uint16, format string, args ...any) *Error {
	return &Error{Code: code, Text: fmt.Sprintf(format, args...)}
}

// ConnectionLevel reports whether code closes the connection rather than
// a channel (§1.1: the hard errors).
func ConnectionLevel(code uint16) bool {
	switch code {
	case ConnectionForced, InvalidPath, FrameError, SyntaxError, CommandInvalid, ChannelError,
		UnexpectedFrame, ResourceError, NotAllowed, NotImplemented, InternalError:
		return true
	}
	return false
}

// CodeName is the spec's name of a reply code, as RabbitMQ puts it in the
// reply text.
func CodeName(code uint16) string {
	switch code {
	case ReplySuccess:
		return "OK"
	case ContentTooLarge:
		return "CONTENT_TOO_LARGE"
	case NoRoute:
		return "NO_ROUTE"
	case NoConsumers:
		return "NO_CONSUMERS"
	case ConnectionForced:
		return "CONNECTION_FORCED"
	case InvalidPath:
		return "INVALID_PATH"
	case AccessRefused:
		return "ACCESS_REFUSED"
	case NotFound:
		return "NOT_FOUND"
	case ResourceLocked:
		return "RESOURCE_LOCKED"
	case PreconditionFailed:
		return "PRECONDITION_FAILED"
	case FrameError:
		return "FRAME_ERROR"
	case SyntaxError:
		return "SYNTAX_ERROR"
	case CommandInvalid:
		return "COMMAND_INVALID"
	case ChannelError:
		return "CHANNEL_ERROR"
	case UnexpectedFrame:
		return "UNEXPECTED_FRAME"
	case ResourceError:
		return "RESOURCE_ERROR"
	case NotAllowed:
		return "NOT_ALLOWED"
	case NotImplemented:
		return "NOT_IMPLEMENTED"
	case InternalError:
		return "INTERNAL_ERROR"
	}
	return fmt.Sprintf("CODE_%d", code)
}
