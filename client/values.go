package client

import (
	"fmt"
	"math"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// toValue converts a Go value to a warrenpb.Value. Supported: string; int,
// int8, int16, int32, int64, uint8, uint16, uint32, and uint, uint64 up to
// MaxInt64 (sent as int64); bool; float32, float64; []byte; nil (a value-less
// entry: in a headers binding, a match on the key's presence); []any (a
// field array) and map[string]any (a nested table) of those, as RabbitMQ's
// x-death header is.
func toValue(v any) (*warrenpb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &warrenpb.Value{}, nil
	case string:
		return &warrenpb.Value{Kind: &warrenpb.Value_StringValue{StringValue: x}}, nil
	case bool:
		return &warrenpb.Value{Kind: &warrenpb.Value_BoolValue{BoolValue: x}}, nil
	case int:
		return intValue(int64(x)), nil
	case int8:
		return intValue(int64(x)), nil
	case int16:
		return intValue(int64(x)), nil
	case int32:
		return intValue(int64(x)), nil
	case int64:
		return intValue(x), nil
	case uint8:
		return intValue(int64(x)), nil
	case uint16:
		return intValue(int64(x)), nil
	case uint32:
		return intValue(int64(x)), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("%w: uint %d overflows int64", ErrUnsupportedValue, x)
		}
		return intValue(int64(x)), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%w: uint64 %d overflows int64", ErrUnsupportedValue, x)
		}
		return intValue(int64(x)), nil
	case float32:
		return &warrenpb.Value{Kind: &warrenpb.Value_DoubleValue{DoubleValue: float64(x)}}, nil
	case float64:
		return &warrenpb.Value{Kind: &warrenpb.Value_DoubleValue{DoubleValue: x}}, nil
	case []byte:
		return &warrenpb.Value{Kind: &warrenpb.Value_BytesValue{BytesValue: x}}, nil
	case []any:
		l := &warrenpb.ValueList{Values: make([]*warrenpb.Value, 0, len(x))}
		for i, e := range x {
			pv, err := toValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Values = append(l.Values, pv)
		}
		return &warrenpb.Value{Kind: &warrenpb.Value_ListValue{ListValue: l}}, nil
	case map[string]any:
		t := &warrenpb.ValueTable{Fields: make(map[string]*warrenpb.Value, len(x))}
		for k, e := range x {
			pv, err := toValue(e)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			t.Fields[k] = pv
		}
		return &warrenpb.Value{Kind: &warrenpb.Value_TableValue{TableValue: t}}, nil
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedValue, v)
	}
}

func intValue(i int64) *warrenpb.Value {
	return &warrenpb.Value{Kind: &warrenpb.Value_IntValue{IntValue: i}}
}

// toValues converts a map of Go values; what names the map in errors
// ("header", "argument"). A nil or empty map gives nil.
func toValues(what string, m map[string]any) (map[string]*warrenpb.Value, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*warrenpb.Value, len(m))
	for k, v := range m {
		pv, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, k, err)
		}
		out[k] = pv
	}
	return out, nil
}

// fromValue converts a warrenpb.Value back to Go: string, int64, bool,
// float64, []byte, []any, map[string]any, or nil for a value-less entry.
func fromValue(v *warrenpb.Value) any {
	switch k := v.GetKind().(type) {
	case *warrenpb.Value_StringValue:
		return k.StringValue
	case *warrenpb.Value_IntValue:
		return k.IntValue
	case *warrenpb.Value_BoolValue:
		return k.BoolValue
	case *warrenpb.Value_DoubleValue:
		return k.DoubleValue
	case *warrenpb.Value_BytesValue:
		return k.BytesValue
	case *warrenpb.Value_ListValue:
		out := make([]any, 0, len(k.ListValue.GetValues()))
		for _, e := range k.ListValue.GetValues() {
			out = append(out, fromValue(e))
		}
		return out
	case *warrenpb.Value_TableValue:
		out := make(map[string]any, len(k.TableValue.GetFields()))
		for f, e := range k.TableValue.GetFields() {
			out[f] = fromValue(e)
		}
		return out
	default:
		return nil
	}
}

// fromValues converts a map of values back to Go; an empty map gives nil.
func fromValues(m map[string]*warrenpb.Value) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = fromValue(v)
	}
	return out
}
