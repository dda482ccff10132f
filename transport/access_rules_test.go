package transport

import (
	"fmt"
	"testing"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
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
	// The public set is exactly the probe services' methods: none of the
	// broker's, none with a rule (a rule there would never run), and every
	// method of health and reflection, so a probe never needs a login.
	public := map[string]bool{}
	for _, fd := range []protoreflect.FileDescriptor{
		healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto,
		reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto,
	} {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				public[fmt.Sprintf("/%s/%s", svc.FullName(), svc.Methods().Get(j).Name())] = true
			}
		}
	}
	if len(public) < 4 {
		t.Fatalf("found %d probe methods; the descriptors changed?", len(public))
	}
	for name := range public {
		if !publicMethods[name] {
			t.Errorf("%s is a probe method but needs a login", name)
		}
	}
	for name := range publicMethods {
		switch {
		case methods[name]:
			t.Errorf("%s of the broker's services is public", name)
		case !public[name]:
			t.Errorf("%s is public but no probe service has it", name)
		}
		if _, ok := rules[name]; ok {
			t.Errorf("%s is public and has a rule", name)
		}
	}
}
