package fsm

import (
	"math"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"github.com/warrenmq/warren/routing"
	"google.golang.org/protobuf/proto"
)

// RoutingValue converts a stored value to routing's comparable form. A nil
// or kind-less value is routing.ValueNone (match on key presence).
func RoutingValue(v *fsmpb.Value) routing.Value {
	switch k := v.GetKind().(type) {
	case *fsmpb.Value_StringValue:
		return routing.Value{Type: routing.ValueString, Str: k.StringValue}
	case *fsmpb.Value_IntValue:
		return routing.Value{Type: routing.ValueInt, Int: k.IntValue}
	case *fsmpb.Value_BoolValue:
		return routing.Value{Type: routing.ValueBool, Bool: k.BoolValue}
	case *fsmpb.Value_DoubleValue:
		return routing.Value{Type: routing.ValueFloat, Float: k.DoubleValue}
	case *fsmpb.Value_BytesValue:
		return routing.Value{Type: routing.ValueBytes, Str: string(k.BytesValue)}
	case *fsmpb.Value_ListValue:
		return routing.Value{Type: routing.ValueList, Str: string(NestedEncoding(k.ListValue))}
	case *fsmpb.Value_TableValue:
		return routing.Value{Type: routing.ValueTable, Str: string(NestedEncoding(k.TableValue))}
	}
	return routing.Value{}
}

// NestedEncoding is the deterministic encoding of a list or table value,
// as routing.Value holds it (nil on a failure, which a valid message
// cannot have).
func NestedEncoding(m proto.Message) []byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return b
}

// StoredValue is the inverse of RoutingValue: a routing value as the log
// holds it. A list or table whose encoding does not decode is kept as
// bytes.
func StoredValue(v routing.Value) *fsmpb.Value {
	switch v.Type {
	case routing.ValueString:
		return &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: v.Str}}
	case routing.ValueInt:
		return &fsmpb.Value{Kind: &fsmpb.Value_IntValue{IntValue: v.Int}}
	case routing.ValueBool:
		return &fsmpb.Value{Kind: &fsmpb.Value_BoolValue{BoolValue: v.Bool}}
	case routing.ValueFloat:
		return &fsmpb.Value{Kind: &fsmpb.Value_DoubleValue{DoubleValue: v.Float}}
	case routing.ValueBytes:
		return &fsmpb.Value{Kind: &fsmpb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	case routing.ValueList:
		l := &fsmpb.ValueList{}
		if proto.Unmarshal([]byte(v.Str), l) == nil {
			return &fsmpb.Value{Kind: &fsmpb.Value_ListValue{ListValue: l}}
		}
		return &fsmpb.Value{Kind: &fsmpb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	case routing.ValueTable:
		t := &fsmpb.ValueTable{}
		if proto.Unmarshal([]byte(v.Str), t) == nil {
			return &fsmpb.Value{Kind: &fsmpb.Value_TableValue{TableValue: t}}
		}
		return &fsmpb.Value{Kind: &fsmpb.Value_BytesValue{BytesValue: []byte(v.Str)}}
	}
	return &fsmpb.Value{}
}

// RoutingArgs converts a stored argument map; nil stays nil.
func RoutingArgs(args map[string]*fsmpb.Value) map[string]routing.Value {
	if len(args) == 0 {
		return nil
	}
	out := make(map[string]routing.Value, len(args))
	for k, v := range args {
		out[k] = RoutingValue(v)
	}
	return out
}

// argsEqual compares two argument maps by content. NaN doubles compare
// unequal to themselves in routing.Value, so they are compared as bits here.
func argsEqual(a, b map[string]*fsmpb.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !valueEqual(va, vb) {
			return false
		}
	}
	return true
}

func valueEqual(a, b *fsmpb.Value) bool {
	da, oka := a.GetKind().(*fsmpb.Value_DoubleValue)
	db, okb := b.GetKind().(*fsmpb.Value_DoubleValue)
	if oka && okb {
		return math.Float64bits(da.DoubleValue) == math.Float64bits(db.DoubleValue)
	}
	return proto.Equal(a, b)
}

// cloneArgs deep-copies an argument map so stored state never aliases a
// command body.
func cloneArgs(args map[string]*fsmpb.Value) map[string]*fsmpb.Value {
	if len(args) == 0 {
		return nil
	}
	out := make(map[string]*fsmpb.Value, len(args))
	for k, v := range args {
		if v == nil {
			v = &fsmpb.Value{}
		}
		out[k] = proto.Clone(v).(*fsmpb.Value)
	}
	return out
}
