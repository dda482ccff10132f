package wire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMethodRoundTrip(t *testing.T) {
	methods := []Method{
		&ConnectionStart{VersionMajor: 0, VersionMinor: 9, ServerProperties: Table{"product": "Warren", "capabilities": Table{"basic.nack": true}}, Mechanisms: []byte("PLAIN AMQPLAIN"), Locales: []byte("en_US")},
		&ConnectionTune{ChannelMax: 2047, FrameMax: 131072, Heartbeat: 60},
		&ExchangeDeclare{Exchange: "logs", Type: "fanout", Durable: true, Internal: true, NoWait: true, Arguments: Table{"alternate-exchange": "ae"}},
		&QueueDeclare{Queue: "q", Passive: false, Exclusive: true, AutoDelete: true, Arguments: Table{"x-max-length": int32(5)}},
		&BasicConsume{Queue: "q", ConsumerTag: "c", NoAck: true, Exclusive: false, NoWait: true, Arguments: Table{}},
		&BasicNack{DeliveryTag: 1 << 40, Multiple: true, Requeue: true},
		&BasicDeliver{ConsumerTag: "c", DeliveryTag: 7, Redelivered: true, Exchange: "e", RoutingKey: "k"},
		&ConfirmSelect{NoWait: true},
		&TxSelect{},
	}
	for _, m := range methods {
		got, err := DecodeMethod(AppendMethod(nil, m))
		if err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: decoded %#v, want %#v", m.Name(), got, m)
		}
	}
}

func TestTableRoundTripEveryType(t *testing.T) {
	tab := Table{
		"bool": true, "i8": int8(-3), "u8": uint8(200), "i16": int16(-300), "u16": uint16(60000),
		"i32": int32(-70000), "u32": uint32(4e9), "i64": int64(-1 << 40), "f32": float32(1.5), "f64": 2.25,
		"dec": Decimal{Scale: 2, Value: 12345}, "str": "hello", "bytes": []byte{0, 1, 2},
		"arr": []any{"a", int64(1), Table{"n": nil}}, "ts": Timestamp(1700000000), "tab": Table{"x": "y"}, "void": nil,
	}
	d := decoder{b: AppendTable(nil, tab)}
	got := d.table(0)
	if d.err != nil {
		t.Fatal(d.err)
	}
	if !reflect.DeepEqual(got, tab) {
		t.Fatalf("decoded %#v\nwant %#v", got, tab)
	}
}

func TestContentHeaderRoundTrip(t *testing.T) {
	p := Properties{ContentType: "text/plain", ContentEncoding: "gzip", Headers: Table{"k": "v"}, DeliveryMode: 2, Priority: 5,
		CorrelationID: "c", ReplyTo: "r", Expiration: "60000", MessageID: "m", Timestamp: 1700000000, Type: "t", UserID: "u", AppID: "a", ClusterID: "cl"}
	h, err := DecodeContentHeader(AppendContentHeader(nil, ClassBasic, 42, &p))
	if err != nil {
		t.Fatal(err)
	}
	p.Flags = h.Properties.Flags
	if h.Class != ClassBasic || h.BodySize != 42 || !reflect.DeepEqual(h.Properties, p) {
		t.Fatalf("decoded %+v, want %+v", h.Properties, p)
	}
}

func TestFrameBounds(t *testing.T) {
	frame := AppendFrame(nil, FrameBody, 1, make([]byte, 5000))
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)), MinFrameMax); !isCode(err, FrameError) {
		t.Fatalf("frame over frame-max: %v, want FRAME_ERROR", err)
	}
	// A size of 4 GiB is refused before anything is allocated.
	huge := []byte{FrameBody, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(huge)), 131072); !isCode(err, FrameError) {
		t.Fatalf("4 GiB frame: %v, want FRAME_ERROR", err)
	}
	bad := AppendFrame(nil, FrameBody, 1, []byte("x"))
	bad[len(bad)-1] = 0
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(bad)), MinFrameMax); !isCode(err, FrameError) {
		t.Fatalf("bad frame end: %v, want FRAME_ERROR", err)
	}
	f, err := ReadFrame(bufio.NewReader(bytes.NewReader(AppendMethodFrame(nil, 3, &BasicAck{DeliveryTag: 9}))), MinFrameMax)
	if err != nil || f.Channel != 3 || f.Type != FrameMethod {
		t.Fatalf("method frame: %+v, %v", f, err)
	}
}

func TestHostileLengths(t *testing.T) {
	// A queue.declare whose arguments table claims 1 GiB.
	b := AppendMethod(nil, &QueueDeclare{Queue: "q"})
	b = append(b[:len(b)-4], 0x40, 0, 0, 0)
	if _, err := DecodeMethod(b); !isCode(err, SyntaxError) {
		t.Fatalf("table longer than the frame: %v, want SYNTAX_ERROR", err)
	}
	if _, err := DecodeMethod([]byte{0, 99, 0, 1}); !isCode(err, CommandInvalid) {
		t.Fatalf("unknown class: %v, want COMMAND_INVALID", err)
	}
}

func isCode(err error, code uint16) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// FuzzDecode feeds arbitrary bytes to the frame reader and the method and
// content header decoders: they return errors, never panic, and never
// allocate beyond the input.
func FuzzDecode(f *testing.F) {
	f.Add(AppendMethodFrame(nil, 1, &QueueDeclare{Queue: "q", Arguments: Table{"a": []any{Table{"b": Decimal{}}}}}))
	f.Add(AppendContent(nil, 1, MinFrameMax, &Properties{Headers: Table{"x": "y"}, Priority: 1}, []byte("body")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			fr, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			switch fr.Type {
			case FrameMethod:
				if m, err := DecodeMethod(fr.Payload); err == nil {
					_ = AppendMethod(nil, m)
				}
			case FrameHeader:
				if h, err := DecodeContentHeader(fr.Payload); err == nil {
					_ = AppendContentHeader(nil, h.Class, h.BodySize, &h.Properties)
				}
			}
		}
	})
}
