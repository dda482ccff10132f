package transport

import (
	"context"
	"time"

	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// The client port's services for tools: grpc.health.v1 (what load
// balancers, Kubernetes' gRPC probes and grpc-health-probe call) and server
// reflection (what grpcurl and grpcui list and describe services with).
// Both need no login (publicMethods) and reveal nothing of the broker's
// state.

// probedServices are the services the health service reports on, besides
// "" (the node as a whole).
var probedServices = []string{pb.BrokerService_ServiceDesc.ServiceName, pb.AccessService_ServiceDesc.ServiceName}

// publicServices are the services whose every method needs no login.
var publicServices = []grpc.ServiceDesc{
	healthpb.Health_ServiceDesc,
	reflectionv1.ServerReflection_ServiceDesc,
	reflectionv1alpha.ServerReflection_ServiceDesc,
}

// watchDrainWait bounds how long a Watch stream is kept open after the
// server started draining, for its NOT_SERVING to reach the client.
const watchDrainWait = time.Second

// Probes is the health service of a client port. Every service reads
// NOT_SERVING until Serving; NotServing (a node that drains on SIGTERM)
// turns them back, and Watch streams end once they have sent that and the
// Server drains.
type Probes struct {
	health *health.Server
}

// RegisterProbes adds the health service and server reflection (v1 and
// v1alpha) to gs, the client port's server, and returns the health
// service's switch. Watch streams end when s drains.
func (s *Server) RegisterProbes(gs *grpc.Server) *Probes {
	p := &Probes{health: health.NewServer()}
	p.set(healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, &drainingHealth{Server: p.health, draining: s.draining})
	reflection.Register(gs)
	return p
}

// Serving reports every service as SERVING: the node is ready.
func (p *Probes) Serving() { p.set(healthpb.HealthCheckResponse_SERVING) }

// NotServing reports every service as NOT_SERVING: the node is stopping
// (or not ready), and clients should go elsewhere.
func (p *Probes) NotServing() { p.set(healthpb.HealthCheckResponse_NOT_SERVING) }

func (p *Probes) set(st healthpb.HealthCheckResponse_ServingStatus) {
	p.health.SetServingStatus("", st)
	for _, svc := range probedServices {
		p.health.SetServingStatus(svc, st)
	}
}

// drainingHealth is grpc-go's health service whose Watch streams end when
// the server drains, after they sent NOT_SERVING (or watchDrainWait), so
// that a graceful stop does not wait for watchers that never leave.
type drainingHealth struct {
	*health.Server
	draining <-chan struct{}
}

func (h *drainingHealth) Watch(in *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ws := &watchStream{Health_WatchServer: stream, ctx: ctx, notServing: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-h.draining:
		}
		t := time.NewTimer(watchDrainWait)
		defer t.Stop()
		select {
		case <-ws.notServing:
		case <-t.C:
		case <-ctx.Done():
		}
		cancel()
	}()
	return h.Server.Watch(in, ws)
}

// watchStream is a Watch stream whose context ends on drain; it notes when
// it has sent NOT_SERVING.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx        context.Context
	notServing chan struct{}
	sent       bool // notServing is closed; only Send (Watch's goroutine) touches it
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(r *healthpb.HealthCheckResponse) error {
	err := w.Health_WatchServer.Send(r)
	if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING && !w.sent {
		w.sent = true
		close(w.notServing)
	}
	return err
}

// methodsOf lists the full method names of services.
func methodsOf(services ...grpc.ServiceDesc) map[string]bool {
	out := map[string]bool{}
	for _, sd := range services {
		for _, m := range sd.Methods {
			out["/"+sd.ServiceName+"/"+m.MethodName] = true
		}
		for _, st := range sd.Streams {
			out["/"+sd.ServiceName+"/"+st.StreamName] = true
		}
	}
	return out
}
