package transport_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// documentedCodes are the status codes README "Errors" lets a node answer
// with. Anything else (INTERNAL, UNKNOWN — which is what a recovered panic
// or an unmapped error becomes — or a deadline the node let pass) fails.
var documentedCodes = map[grpccodes.Code]bool{
	grpccodes.OK:                 true,
	grpccodes.InvalidArgument:    true,
	grpccodes.NotFound:           true,
	grpccodes.AlreadyExists:      true, // a consumer tag in use on the queue
	grpccodes.FailedPrecondition: true,
	grpccodes.ResourceExhausted:  true,
	grpccodes.Unavailable:        true,
}

// maxStreamRecv bounds the messages read from one Consume stream.
const maxStreamRecv = 10000

// FuzzServerRequests sends arbitrary requests — the bytes decoded as the
// request type the first argument picks, as in FuzzValidateRequests — to a
// real in-process node over gRPC on loopback. One node serves the whole
// run (one per fuzz worker process). The node must answer every request
// with a documented code within the deadline, must not panic (a panic in a
// handler ends this process), and must still answer ClusterStatus after it.
//
// LeaveCluster is not sent: it makes the node leave the cluster and stop,
// by design. min_meta_index is cleared: a future index waits (bounded by
// the caller's deadline) by design, which would only slow the fuzzer.
func FuzzServerRequests(f *testing.F) {
	n := transporttest.Start(f, transporttest.Options{QueueGroups: 2})
	fuzzServer(f, n.Dial(f), nil)
}

// FuzzServerRequestsWithAuth is FuzzServerRequests against a node with
// authentication and authorization on, as warren-node runs: each input is
// sent as the administrator guest or as a user whose permissions cover only
// some of the names the seeds use, so refusals (PERMISSION_DENIED) are
// fuzzed too. A refused request must change nothing an allowed one could
// not, and the node must still answer.
func FuzzServerRequestsWithAuth(f *testing.F) {
	n := transporttest.Start(f, transporttest.Options{QueueGroups: 2, Access: &access.Options{}})
	admin := dialAs(f, n.Addr, "guest", "guest")
	setup, cancel := context.WithTimeout(context.Background(), 30*time.Second*transporttest.TimeoutScale())
	defer cancel()
	acl := pb.NewAccessServiceClient(admin.cc)
	if _, err := acl.AddUser(setup, &pb.AddUserRequest{Name: "worker", Password: "pw"}); err != nil {
		f.Fatal(err)
	}
	if _, err := acl.SetPermissions(setup, &pb.SetPermissionsRequest{Permission: &pb.Permission{
		User: "worker", Vhost: "/", Configure: "^tmp", Write: "^(jobs|amq.default)$", Read: "^jobs$",
	}}); err != nil {
		f.Fatal(err)
	}
	worker := dialAs(f, n.Addr, "worker", "pw")
	fuzzServer(f, admin.api, worker.api)
}

// fuzzServer runs the fuzz body against api (and, for odd kinds, against
// alt when it is not nil).
func fuzzServer(f *testing.F, api, alt pb.BrokerServiceClient) {
	for _, s := range transport.RequestSeeds(f) {
		f.Add(s.Kind, s.Data)
	}
	setup, cancel := context.WithTimeout(context.Background(), 30*time.Second*transporttest.TimeoutScale())
	defer cancel()
	// The names the seeds use, so valid seeds reach the state machines.
	if _, err := api.DeclareQueue(setup, &pb.DeclareQueueRequest{Name: "jobs"}); err != nil {
		f.Fatal(err)
	}
	if _, err := api.DeclareExchange(setup, &pb.DeclareExchangeRequest{Name: "logs", Kind: "topic"}); err != nil {
		f.Fatal(err)
	}
	codes := documentedCodes
	if alt != nil {
		codes = maps.Clone(documentedCodes)
		codes[grpccodes.PermissionDenied] = true
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		rt := transport.RequestTypes[int(kind)%len(transport.RequestTypes)]
		call, ok := serverCalls[rt.Name]
		if !ok {
			if rt.Name != "LeaveCluster" {
				t.Fatalf("no call for request type %s", rt.Name)
			}
			return
		}
		req := rt.New()
		if err := proto.Unmarshal(data, req); err != nil {
			return // the client's gRPC codec would refuse it as well
		}
		clearMinMetaIndex(req.ProtoReflect())
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second*transporttest.TimeoutScale())
		defer cancel()
		as := api
		if alt != nil && kind&0x80 != 0 {
			as = alt
		}
		err := call(ctx, as, req)
		if code := status.Code(err); !codes[code] {
			t.Fatalf("%s %v: answered %v, which is not a documented code", rt.Name, req, err)
		}
		if _, err := api.ClusterStatus(ctx, &pb.ClusterStatusRequest{}); err != nil {
			t.Fatalf("after %s %v: the node no longer answers ClusterStatus: %v", rt.Name, req, err)
		}
	})
}

// authedConn is a connection that logs in with HTTP Basic credentials, as
// the SDK's WithCredentials does.
type authedConn struct {
	cc  *grpc.ClientConn
	api pb.BrokerServiceClient
}

type basicAuth string

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": string(b)}, nil
}
func (basicAuth) RequireTransportSecurity() bool { return false }

func dialAs(t testing.TB, addr, user, password string) authedConn {
	t.Helper()
	creds := basicAuth("Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return authedConn{cc: cc, api: pb.NewBrokerServiceClient(cc)}
}

type serverCall func(ctx context.Context, api pb.BrokerServiceClient, req proto.Message) error

// serverCalls sends one request of each type (but LeaveCluster) and
// returns the node's answer.
var serverCalls = map[string]serverCall{
	"DeclareExchange": unary(pb.BrokerServiceClient.DeclareExchange),
	"DeleteExchange":  unary(pb.BrokerServiceClient.DeleteExchange),
	"ListExchanges":   unary(pb.BrokerServiceClient.ListExchanges),
	"DeclareQueue":    unary(pb.BrokerServiceClient.DeclareQueue),
	"DeleteQueue":     unary(pb.BrokerServiceClient.DeleteQueue),
	"PurgeQueue":      unary(pb.BrokerServiceClient.PurgeQueue),
	"ListQueues":      unary(pb.BrokerServiceClient.ListQueues),
	"BindQueue":       unary(pb.BrokerServiceClient.BindQueue),
	"UnbindQueue":     unary(pb.BrokerServiceClient.UnbindQueue),
	"ListBindings":    unary(pb.BrokerServiceClient.ListBindings),
	"Publish":         unary(pb.BrokerServiceClient.Publish),
	"Get":             unary(pb.BrokerServiceClient.Get),
	"Settle":          unary(pb.BrokerServiceClient.Settle),
	"ClusterStatus":   unary(pb.BrokerServiceClient.ClusterStatus),
	"RemoveNode":      unary(pb.BrokerServiceClient.RemoveNode),
	"GossipKey":       unary(pb.BrokerServiceClient.GossipKey),
	"ConsumeSubscribe": func(ctx context.Context, api pb.BrokerServiceClient, req proto.Message) error {
		return consume(ctx, api, nil, req.(*pb.ConsumeRequest))
	},
	// A settle is sent after a valid Subscribe, where it may be accepted.
	"ConsumeSettle": func(ctx context.Context, api pb.BrokerServiceClient, req proto.Message) error {
		// An earlier input may have deleted "jobs"; the answer does not
		// matter here (a re-declare with other properties is refused).
		_, _ = api.DeclareQueue(ctx, &pb.DeclareQueueRequest{Name: "jobs"})
		sub := &pb.ConsumeRequest{Request: &pb.ConsumeRequest_Subscribe{Subscribe: &pb.Subscribe{Queue: "jobs", Prefetch: 1, SessionId: "fuzz-settle"}}}
		return consume(ctx, api, sub, req.(*pb.ConsumeRequest))
	},
	"Session": func(ctx context.Context, api pb.BrokerServiceClient, req proto.Message) error {
		st, err := api.Session(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(req.(*pb.SessionRequest)); err != nil {
			return drain(st.Recv)
		}
		if err := st.CloseSend(); err != nil {
			return err
		}
		return drain(st.Recv)
	},
}

func unary[Req proto.Message, Resp any](rpc func(pb.BrokerServiceClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) serverCall {
	return func(ctx context.Context, api pb.BrokerServiceClient, req proto.Message) error {
		_, err := rpc(api, ctx, req.(Req))
		return err
	}
}

// consume opens a Consume stream, sends first (when set) and req, closes
// its side and reads until the server ends the stream. A stream whose
// subscription the node refused reports that refusal.
func consume(ctx context.Context, api pb.BrokerServiceClient, first, req *pb.ConsumeRequest) error {
	st, err := api.Consume(ctx)
	if err != nil {
		return err
	}
	if first != nil {
		if err := st.Send(first); err != nil {
			return drain(st.Recv)
		}
		m, err := st.Recv()
		if err != nil {
			return err // "jobs" may have been deleted by an earlier input
		}
		if m.GetSubscribed() == nil {
			return fmt.Errorf("the set-up subscription got %v before Subscribed", m)
		}
	}
	if err := st.Send(req); err != nil {
		return drain(st.Recv)
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return drain(st.Recv)
}

// drain reads a stream until it ends and returns how: nil for a clean end.
func drain[T any](recv func() (T, error)) error {
	for i := 0; i < maxStreamRecv; i++ {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// clearMinMetaIndex zeroes every min_meta_index field of m and of the
// messages it holds.
func clearMinMetaIndex(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "min_meta_index":
			m.Clear(fd)
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap():
			clearMinMetaIndex(v.Message())
		}
		return true
	})
}
