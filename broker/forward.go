package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A follower serves any client: what must be decided by a group's leader
// (proposals, enqueues) is forwarded to it over NodeService, and both ends
// of that live here. The reply carries what the caller needs of the state
// machine's Result; errors travel through cluster's status table and come
// back as the very errors the leader had, so transport maps them exactly
// as for a local call.

// proposeOrForward proposes cmd to g locally when this node leads it and
// otherwise on its leader.
func (b *Broker) proposeOrForward(ctx context.Context, g *raftgroup.Group, cmd proto.Message) (*fsm.Result, uint64, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return nil, 0, err
	}
	res, index, err := raftgroup.Propose[*fsm.Result](ctx, g, data)
	if _, elsewhere := LeaderElsewhere(err); elsewhere {
		return b.forwardPropose(ctx, g, data)
	}
	return res, index, err
}

func (b *Broker) forwardPropose(ctx context.Context, g *raftgroup.Group, data []byte) (*fsm.Result, uint64, error) {
	var r *pb.ProposeResponse
	err := b.leaderCall(ctx, g, func(ctx context.Context, conn *grpc.ClientConn) error {
		var err error
		if r, err = pb.NewNodeServiceClient(conn).Propose(ctx, &pb.ProposeRequest{Group: g.Name(), Command: data}); err != nil {
			return fromLeader(g.Name(), err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	res := &fsm.Result{QueueID: r.GetQueueId(), QueueName: r.GetQueueName(), Count: r.GetCount()}
	for _, d := range r.GetDropped() {
		res.DroppedQueues = append(res.DroppedQueues, fsm.DroppedQueue{ID: d.GetId(), Name: d.GetName(), Group: d.GetGroup()})
	}
	res.Err = cluster.ErrorOf(codes.Code(r.GetErrorCode()), r.GetErrorReason(), r.GetErrorMessage())
	return res, r.GetIndex(), nil
}

// ServeProposal proposes a command a peer forwarded, on the group it
// names, which this node must lead, and answers with the result. A
// command that does not decode, or belongs to the other kind of group, is
// refused before it reaches the log.
func (b *Broker) ServeProposal(ctx context.Context, r *pb.ProposeRequest) (*pb.ProposeResponse, error) {
	g, err := b.groupNamed(r.GetGroup())
	if err != nil {
		return nil, err
	}
	cmd, err := fsm.Decode(r.GetCommand())
	if err != nil {
		return nil, fmt.Errorf("%w: forwarded command: %v", fsm.ErrInvalid, err)
	}
	if fsm.IsMeta(cmd) != (g == b.meta) {
		return nil, fmt.Errorf("%w: forwarded %T does not belong to group %s", fsm.ErrInvalid, cmd, g.Name())
	}
	res, index, err := raftgroup.Propose[*fsm.Result](ctx, g, r.GetCommand())
	if err != nil {
		return nil, err
	}
	resp := &pb.ProposeResponse{Index: index, QueueId: res.QueueID, QueueName: res.QueueName, Count: res.Count}
	for _, d := range res.DroppedQueues {
		resp.Dropped = append(resp.Dropped, &pb.DroppedQueue{Id: d.ID, Name: d.Name, Group: d.Group})
	}
	if res.Err != nil {
		// Every error of the state machines wraps a sentinel of cluster's
		// table; one that did not would travel as UNKNOWN.
		st, ok := cluster.Status(res.Err)
		if !ok {
			st = status.New(codes.Unknown, res.Err.Error())
		}
		resp.ErrorCode, resp.ErrorMessage, resp.ErrorReason = uint32(st.Code()), st.Message(), cluster.Reason(res.Err)
	}
	return resp, nil
}

// forwardEnqueue commits msgs on the leader of the queue group.
func (b *Broker) forwardEnqueue(ctx context.Context, q *queueGroup, queues []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error) {
	req := &pb.EnqueueRequest{Group: uint32(q.idx)}
	det := proto.MarshalOptions{Deterministic: true}
	for _, s := range queues {
		enc, err := det.Marshal(s)
		if err != nil {
			return nil, err
		}
		req.Specs = append(req.Specs, enc)
	}
	for _, m := range msgs {
		enc, err := det.Marshal(m)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, enc)
	}
	var r *pb.EnqueueResponse
	err := b.leaderCall(ctx, q.group, func(ctx context.Context, conn *grpc.ClientConn) error {
		var err error
		if r, err = pb.NewNodeServiceClient(conn).Enqueue(ctx, req); err != nil {
			return fromLeader(q.name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(r.GetOutcomes()) != len(msgs) {
		return nil, fmt.Errorf("forwarded enqueue: %d outcomes for %d messages", len(r.GetOutcomes()), len(msgs))
	}
	out := make([]fsm.EnqueueOutcome, len(msgs))
	for i, o := range r.GetOutcomes() {
		out[i] = fsm.EnqueueOutcome{Status: fsm.EnqueueStatus(o.GetStatus()), Reason: o.GetReason()}
	}
	return out, nil
}

// ServeEnqueue commits messages a peer forwarded to a queue group this
// node must lead.
func (b *Broker) ServeEnqueue(ctx context.Context, r *pb.EnqueueRequest) (*pb.EnqueueResponse, error) {
	q, err := b.queueGroup(r.GetGroup())
	if err != nil {
		return nil, err
	}
	if _, err := q.dispatcher(); err != nil {
		return nil, err
	}
	queues := make([]*fsmpb.QueueSpec, len(r.GetSpecs()))
	for i, data := range r.GetSpecs() {
		queues[i] = &fsmpb.QueueSpec{}
		if err := proto.Unmarshal(data, queues[i]); err != nil {
			return nil, fmt.Errorf("%w: queue spec %d: %v", fsm.ErrInvalid, i, err)
		}
		if err := fsm.ValidQueueSpec(queues[i]); err != nil {
			return nil, fmt.Errorf("queue spec %d: %w", i, err)
		}
	}
	msgs := make([]*fsmpb.EnqueueMessage, len(r.GetMessages()))
	for i, data := range r.GetMessages() {
		msgs[i] = &fsmpb.EnqueueMessage{}
		if err := proto.Unmarshal(data, msgs[i]); err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", fsm.ErrInvalid, i, err)
		}
		if err := fsm.ValidPayload(msgs[i].GetPayload()); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		for _, ref := range msgs[i].GetQueueRefs() {
			if int(ref) >= len(queues) {
				return nil, fmt.Errorf("%w: message %d refers to queue %d of %d", fsm.ErrInvalid, i, ref, len(queues))
			}
		}
	}
	outcomes, err := q.commit.submit(ctx, queues, msgs)
	if err != nil {
		return nil, err
	}
	resp := &pb.EnqueueResponse{Outcomes: make([]*pb.EnqueueOutcome, len(outcomes))}
	for i, o := range outcomes {
		resp.Outcomes[i] = &pb.EnqueueOutcome{Status: uint32(o.Status), Reason: o.Reason}
	}
	return resp, nil
}

// fromLeader is the error of a call forwarded to group's leader: the
// leader's own error when cluster's status table knows it, else its status
// with code and details (e.g. RESOURCE_EXHAUSTED from its watermark). The
// message says once where it came from instead of nesting "rpc error: code
// = …" texts.
func fromLeader(group string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("forward to the leader of %s: %w", group, err)
	}
	var nle *raftgroup.NotLeaderError
	switch rebuilt := cluster.FromStatus(err); {
	case errors.As(rebuilt, &nle):
		return rebuilt
	case rebuilt != err:
		return fmt.Errorf("%w (answered by the leader of %s)", rebuilt, group)
	}
	p := st.Proto()
	p.Message = fmt.Sprintf("%s (answered by the leader of %s)", p.GetMessage(), group)
	return status.FromProto(p).Err()
}

// NotLeaderError says that another node leads the group a call needed,
// with what a client needs to go there itself.
type NotLeaderError struct {
	raftgroup.NotLeaderError
	// LeaderGRPCAddr is the gRPC address of the leader.
	LeaderGRPCAddr string
	// MetaIndex, when not 0, is the meta index this node had applied when
	// it answered: a client that goes to the leader asks it to have
	// applied as much, so the leader knows what this node knew (a queue
	// declared a moment ago).
	MetaIndex uint64
}

// Unwrap returns the Raft-level error.
func (e *NotLeaderError) Unwrap() error { return &e.NotLeaderError }

// Metadata is what a NOT_LEADER status carries beyond the Raft-level
// fields.
func (e *NotLeaderError) Metadata() map[string]string {
	md := map[string]string{cluster.LeaderGRPCAddrKey: e.LeaderGRPCAddr}
	if e.MetaIndex != 0 {
		md[cluster.MetaIndexKey] = strconv.FormatUint(e.MetaIndex, 10)
	}
	return md
}

// Redirect returns, for an error that says another node leads the group,
// that error with the leader's gRPC address and this node's applied meta
// index; nil when err says something else, or no leader or no gRPC
// address of it is known.
func (b *Broker) Redirect(err error) *NotLeaderError {
	var nle *raftgroup.NotLeaderError
	if !errors.As(err, &nle) || nle.LeaderID == "" {
		return nil
	}
	addr, ok := b.node.MemberGRPCAddr(nle.LeaderID)
	if !ok || addr == "" {
		return nil
	}
	return &NotLeaderError{NotLeaderError: *nle, LeaderGRPCAddr: addr, MetaIndex: b.MetaIndex()}
}

// LeaderConnMoved is LeaderConn with a channel closed once this node knows
// of another leader of the group than the one connected to, or ctx ends
// (cluster.Node.LeaderConnMoved): a stream proxied to the old leader ends
// on it, so its client subscribes again where the group now serves.
func (b *Broker) LeaderConnMoved(ctx context.Context, group string) (*grpc.ClientConn, <-chan struct{}, error) {
	g, err := b.groupNamed(group)
	if err != nil {
		return nil, nil, err
	}
	return b.node.LeaderConnMoved(ctx, g)
}

// LeaderConn returns a connection to the node that leads the group named
// group, for proxying client calls that must run there (consume, get,
// settle of a get).
func (b *Broker) LeaderConn(group string) (*grpc.ClientConn, error) {
	g, err := b.groupNamed(group)
	if err != nil {
		return nil, err
	}
	return b.node.LeaderConn(g)
}
