package client

import (
	"reflect"
	"testing"
)

// TestNestedValuesRoundTrip: []any and map[string]any (an x-death header)
// convert to the API's list and table values and back.
func TestNestedValuesRoundTrip(t *testing.T) {
	in := map[string]any{"x-death": []any{map[string]any{"count": int64(2), "reason": "expired", "routing-keys": []any{"k"}}}}
	pv, err := toValues("header", in)
	if err != nil {
		t.Fatal(err)
	}
	if got := fromValues(pv); !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip: %v, want %v", got, in)
	}
	if _, err := toValues("header", map[string]any{"l": []any{struct{}{}}}); err == nil {
		t.Fatal("an unsupported element was accepted")
	}
}
