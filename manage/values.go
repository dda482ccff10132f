package manage

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/warrenmq/warren/broker"
)

// Arguments and headers travel as JSON objects: strings, numbers (an
// integral number is an integer, others floats) and booleans. Lists,
// tables and null are refused by name, never dropped.

// maxValueBytes bounds one string argument or header value (the client
// port's default).
const maxValueBytes = 64 << 10

// toValues converts a JSON object's values for the broker.
func toValues(what string, m map[string]any) (map[string]broker.Value, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if len(m) > maxArguments {
		return nil, badRequest("%s: %d entries; the limit is %d", what, len(m), maxArguments)
	}
	out := make(map[string]broker.Value, len(m))
	for k, v := range m {
		if k == "" || len(k) > maxNameBytes || !utf8.ValidString(k) {
			return nil, badRequest("%s: key %q: 1 to %d bytes of UTF-8", what, k, maxNameBytes)
		}
		switch x := v.(type) {
		case string:
			if len(x) > maxValueBytes {
				return nil, badRequest("%s: %q is %d bytes long; the limit is %d", what, k, len(x), maxValueBytes)
			}
			out[k] = broker.Value{Type: broker.ValueString, Str: x}
		case bool:
			out[k] = broker.Value{Type: broker.ValueBool, Bool: x}
		case json.Number:
			if i, err := x.Int64(); err == nil {
				out[k] = broker.Value{Type: broker.ValueInt, Int: i}
			} else if f, err := x.Float64(); err == nil {
				out[k] = broker.Value{Type: broker.ValueFloat, Float: f}
			} else {
				return nil, badRequest("%s: %q: number %s out of range", what, k, x)
			}
		case nil:
			return nil, badRequest("%s: %q is null; give a string, number or boolean", what, k)
		default:
			return nil, badRequest("%s: %q is a %T; the HTTP API takes strings, numbers and booleans (lists and tables: use the gRPC API)", what, k, v)
		}
	}
	return out, nil
}

// fromValues converts the broker's values to JSON: bytes as base64, lists
// and tables as a note of their kind.
func fromValues(m map[string]broker.Value) map[string]any {
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		switch v.Type {
		case broker.ValueString:
			out[k] = v.Str
		case broker.ValueInt:
			out[k] = v.Int
		case broker.ValueBool:
			out[k] = v.Bool
		case broker.ValueFloat:
			out[k] = v.Float
		case broker.ValueBytes:
			out[k] = base64.StdEncoding.EncodeToString([]byte(v.Str))
		case broker.ValueNone:
			out[k] = nil
		default:
			out[k] = fmt.Sprintf("(%d-byte list or table)", len(v.Str))
		}
	}
	return out
}
