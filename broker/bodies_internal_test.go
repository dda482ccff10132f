package broker

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestWithBodyCopiesEveryField: withBody copies Payload field by field;
// a field added to Payload must be added there too, or bodies handed out
// and snapshots would lose it.
func TestWithBodyCopiesEveryField(t *testing.T) {
	fields := (&fsmpb.Payload{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() != 7 {
		t.Fatalf("fsmpb.Payload has %d fields; withBody copies 7: update it", fields.Len())
	}
	p := &fsmpb.Payload{
		Headers: map[string]*fsmpb.Value{"h": {}}, Properties: &fsmpb.Properties{Type: "t"},
		Exchange: "x", RoutingKey: "k", BodyRef: &fsmpb.BodyRef{Index: 3, Length: 2}, Redelivered: true,
	}
	c := withBody(p, []byte("ab"))
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Name() == "body" {
			continue
		}
		if !c.ProtoReflect().Has(f) {
			t.Errorf("withBody dropped field %s", f.Name())
		}
	}
	if string(c.GetBody()) != "ab" || p.GetBody() != nil {
		t.Fatalf("body %q, original's %q", c.GetBody(), p.GetBody())
	}
}
