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
	}
	return routing.Value{}
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
