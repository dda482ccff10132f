package transport_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// TestProbesWithoutLogin: on a node with authentication on, a client
// without credentials gets health (Check per service, Watch) and
// reflection, and nothing else; a drained node's watchers see NOT_SERVING
// before their stream ends.
func TestProbesWithoutLogin(t *testing.T) {
	n := transporttest.Start(t, transporttest.Options{Access: &access.Options{}})
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second*transporttest.TimeoutScale())
	defer cancel()

	// The broker itself still needs a login.
	if _, err := pb.NewBrokerServiceClient(cc).ListQueues(ctx, &pb.ListQueuesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListQueues without credentials: %v, want UNAUTHENTICATED", err)
	}

	hc := healthpb.NewHealthClient(cc)
	for _, svc := range []string{"", "warren.v1.BrokerService", "warren.v1.AccessService"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) = %v, %v; want SERVING", svc, r.GetStatus(), err)
		}
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "warren.v1.NodeService"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check(NodeService) = %v, want NOT_FOUND (not served on the client port)", err)
	}

	// Reflection lists the client port's services (grpcurl list).
	rs, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	lr, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range lr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"warren.v1.BrokerService", "warren.v1.AccessService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	if slices.Contains(names, "warren.v1.NodeService") {
		t.Errorf("reflection lists the internal NodeService: %v", names)
	}
	// A service's descriptor, as grpcurl describe asks for it.
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "warren.v1.BrokerService"}}); err != nil {
		t.Fatal(err)
	}
	if fr, err := rs.Recv(); err != nil || len(fr.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("descriptor of BrokerService: %v %v", fr, err)
	}
	_ = rs.CloseSend()

	// Watch: SERVING, then NOT_SERVING as the node drains, then the end.
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "warren.v1.BrokerService"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch status %v, %v; want SERVING", r.GetStatus(), err)
	}
	n.Probes.NotServing()
	n.API.Drain()
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after drain: %v, %v; want NOT_SERVING", r.GetStatus(), err)
	}
	for {
		_, err := w.Recv()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || status.Code(err) == codes.Unavailable {
			break
		}
		t.Fatalf("Watch ended with %v", err)
	}
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check after drain = %v, %v; want NOT_SERVING", r.GetStatus(), err)
	}
}
