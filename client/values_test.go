package client

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/warrenmq/warren/transport/warrenpb"
)

func TestToValueSupportedTypes(t *testing.T) {
	str := func(s string) *warrenpb.Value {
		return &warrenpb.Value{Kind: &warrenpb.Value_StringValue{StringValue: s}}
	}
	dbl := func(f float64) *warrenpb.Value {
		return &warrenpb.Value{Kind: &warrenpb.Value_DoubleValue{DoubleValue: f}}
	}
	for _, tc := range []struct {
		in   any
		want *warrenpb.Value
	}{
		{"x", str("x")},
		{int(-3), intValue(-3)},
		{int8(-8), intValue(-8)},
		{int16(16), intValue(16)},
		{int32(32), intValue(32)},
		{int64(math.MinInt64), intValue(math.MinInt64)},
		{uint8(8), intValue(8)},
		{uint16(16), intValue(16)},
		{uint32(math.MaxUint32), intValue(math.MaxUint32)},
		{uint(7), intValue(7)},
		{uint64(math.MaxInt64), intValue(math.MaxInt64)},
		{true, &warrenpb.Value{Kind: &warrenpb.Value_BoolValue{BoolValue: true}}},
		{float32(1.5), dbl(1.5)},
		{2.25, dbl(2.25)},
		{[]byte{1, 2}, &warrenpb.Value{Kind: &warrenpb.Value_BytesValue{BytesValue: []byte{1, 2}}}},
		{nil, &warrenpb.Value{}},
	} {
		got, err := toValue(tc.in)
		if err != nil {
			t.Errorf("toValue(%#v): %v", tc.in, err)
			continue
		}
		if !proto.Equal(got, tc.want) {
			t.Errorf("toValue(%#v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestToValueUnsupportedTypes(t *testing.T) {
	for _, in := range []any{struct{}{}, map[string]int{}, []string{"a"}, time.Now(), uint64(math.MaxInt64 + 1), new(int)} {
		if _, err := toValue(in); !errors.Is(err, ErrUnsupportedValue) {
			t.Errorf("toValue(%T) error = %v, want ErrUnsupportedValue", in, err)
		}
	}
}

func TestFromValueRoundTrip(t *testing.T) {
	in := map[string]any{"s": "x", "i": 42, "b": false, "f": 0.5, "y": []byte("z"), "n": nil}
	pv, err := toValues("header", in)
	if err != nil {
		t.Fatal(err)
	}
	got := fromValues(pv)
	want := map[string]any{"s": "x", "i": int64(42), "b": false, "f": 0.5, "y": []byte("z"), "n": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip = %#v, want %#v", got, want)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_123)
	in := Message{
		Body: []byte("body"), Headers: map[string]any{"k": "v"},
		ContentType: "text/plain", ContentEncoding: "gzip", MessageID: "m1", CorrelationID: "c1",
		ReplyTo: "r", Type: "t", AppID: "a", UserID: "u",
		Expiration: 1500 * time.Millisecond, Timestamp: ts, Priority: 9,
	}
	pm, err := in.toProto()
	if err != nil {
		t.Fatal(err)
	}
	out := messageFromProto(pm)
	if !out.Timestamp.Equal(ts) {
		t.Errorf("timestamp %v, want %v", out.Timestamp, ts)
	}
	out.Timestamp = in.Timestamp
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
	if got := millisCeil(time.Microsecond); got != 1 {
		t.Errorf("millisCeil(1µs) = %d, want 1", got)
	}
}

func TestUnsupportedValuesSendNothing(t *testing.T) {
	fb := newFakeBroker()
	c := newTestClient(t, fb)
	ctx := testCtx(t)
	_, err := c.Publish(ctx, "", "q", Message{Headers: map[string]any{"bad": struct{}{}}})
	if !errors.Is(err, ErrUnsupportedValue) {
		t.Fatalf("Publish error = %v, want ErrUnsupportedValue", err)
	}
	if _, err := c.DeclareQueue(ctx, "q", QueueOptions{Args: map[string]any{"x": []int{1}}}); !errors.Is(err, ErrUnsupportedValue) {
		t.Fatalf("DeclareQueue error = %v, want ErrUnsupportedValue", err)
	}
	if err := c.Bind(ctx, "ex", "q", "", map[string]any{"x": time.Second}); !errors.Is(err, ErrUnsupportedValue) {
		t.Fatalf("Bind error = %v, want ErrUnsupportedValue", err)
	}
	if n := len(fb.publishedEntries()); n != 0 {
		t.Errorf("%d entries published, want 0", n)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.queueReqs) != 0 {
		t.Errorf("%d queue declarations sent, want 0", len(fb.queueReqs))
	}
}
