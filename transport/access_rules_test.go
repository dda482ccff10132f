package transport

import (
	"fmt"
	"testing"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestEveryMethodHasARule: every RPC of the services the client port serves
// has an authorization rule, and every rule names an RPC that exists, so a
// new RPC cannot be served unchecked (the interceptor refuses a method
// without a rule, which this test turns into a build-time reminder).
func TestEveryMethodHasARule(t *testing.T) {
	methods := map[string]bool{}
	for _, fd := range []protoreflect.FileDescriptor{pb.File_warren_v1_broker_proto, pb.File_warren_v1_access_proto} {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				name := fmt.Sprintf("/%s/%s", svc.FullName(), svc.Methods().Get(j).Name())
				methods[name] = true
				if _, ok := rules[name]; !ok {
					t.Errorf("%s has no authorization rule", name)
				}
			}
		}
	}
	for name := range rules {
		if !methods[name] {
			t.Errorf("rule for %s, which no service has", name)
		}
	}
}
