package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A follower serves any client: what must be decided by a group's leader
// (proposals, enqueues) is forwarded to it over NodeService. The reply
// carries what the caller needs of the state machine's Result; domain
// errors travel as a status code and are turned back into this package's
// sentinels, so transport maps them exactly as for a local call.

// proposeOrForward proposes data to g locally when this node leads it and
// otherwise on its leader.
func (n *Node) proposeOrForward(ctx context.Context, g *Group, data []byte) (*fsm.Result, uint64, error) {
	resp, index, err := g.Propose(ctx, data)
	var nle *NotLeaderError
	if errors.As(err, &nle) {
		return n.forwardPropose(ctx, g, data)
	}
	if err != nil {
		return nil, 0, err
	}
	res, ok := resp.(*fsm.Result)
	if !ok {
		return nil, 0, fmt.Errorf("group %s: unexpected apply response %T", g.Name(), resp)
	}
	return res, index, nil
}

func (n *Node) forwardPropose(ctx context.Context, g *Group, data []byte) (*fsm.Result, uint64, error) {
	c, err := n.leaderClient(g)
	if err != nil {
		return nil, 0, err
	}
	r, err := c.Propose(ctx, &pb.ProposeRequest{Group: g.Name(), Command: data})
	if err != nil {
		return nil, 0, fromLeader(g.Name(), err)
	}
	res := &fsm.Result{QueueID: r.GetQueueId(), QueueName: r.GetQueueName(), Count: r.GetCount()}
	for _, d := range r.GetDropped() {
		res.DroppedQueues = append(res.DroppedQueues, fsm.DroppedQueue{ID: d.GetId(), Name: d.GetName(), Group: d.GetGroup()})
	}
	res.Err = domainError(codes.Code(r.GetErrorCode()), r.GetErrorMessage())
	return res, r.GetIndex(), nil
}

// domainError rebuilds a state machine's domain error from its status code.
func domainError(code codes.Code, msg string) error {
	switch code {
	case codes.OK:
		return nil
	case codes.NotFound:
		return fmt.Errorf("%w: %s", fsm.ErrNotFound, msg)
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %s", fsm.ErrInvalid, msg)
	case codes.FailedPrecondition:
		return fmt.Errorf("%w: %s", fsm.ErrPrecondition, msg)
	}
	return errors.New(msg)
}

// ApplyForwarded proposes an encoded command received from a peer on the
// group named group, which this node must lead, and returns the result.
func (n *Node) ApplyForwarded(ctx context.Context, group string, data []byte) (*fsm.Result, uint64, error) {
	g := n.groupByName(group)
	if g == nil {
		return nil, 0, fmt.Errorf("%w: no group %q on this node", fsm.ErrNotFound, group)
	}
	resp, index, err := g.Propose(ctx, data)
	if err != nil {
		return nil, 0, err
	}
	res, ok := resp.(*fsm.Result)
	if !ok {
		return nil, 0, fmt.Errorf("group %s: unexpected apply response %T", group, resp)
	}
	return res, index, nil
}

// forwardEnqueue commits msgs on the leader of the queue group.
func (n *Node) forwardEnqueue(ctx context.Context, q *queueGroup, specs []*fsmpb.QueueSpec, msgs []*fsmpb.EnqueueMessage) ([]fsm.EnqueueOutcome, error) {
	c, err := n.leaderClient(q.group)
	if err != nil {
		return nil, err
	}
	req := &pb.EnqueueRequest{Group: uint32(q.idx)}
	det := proto.MarshalOptions{Deterministic: true}
	for _, s := range specs {
		b, err := det.Marshal(s)
		if err != nil {
			return nil, err
		}
		req.Specs = append(req.Specs, b)
	}
	for _, m := range msgs {
		b, err := det.Marshal(m)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, b)
	}
	r, err := c.Enqueue(ctx, req)
	if err != nil {
		return nil, fromLeader(q.group.Name(), err)
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

// EnqueueForwarded commits messages received from a peer on queue group
// group, which this node must lead.
func (n *Node) EnqueueForwarded(ctx context.Context, group uint32, specBytes, msgBytes [][]byte) ([]fsm.EnqueueOutcome, error) {
	q, err := n.queueGroup(group)
	if err != nil {
		return nil, err
	}
	if _, err := q.dispatcher(); err != nil {
		return nil, err
	}
	specs := make([]*fsmpb.QueueSpec, len(specBytes))
	for i, b := range specBytes {
		specs[i] = &fsmpb.QueueSpec{}
		if err := proto.Unmarshal(b, specs[i]); err != nil {
			return nil, fmt.Errorf("%w: queue spec %d: %v", fsm.ErrInvalid, i, err)
		}
	}
	msgs := make([]*fsmpb.EnqueueMessage, len(msgBytes))
	for i, b := range msgBytes {
		msgs[i] = &fsmpb.EnqueueMessage{}
		if err := proto.Unmarshal(b, msgs[i]); err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", fsm.ErrInvalid, i, err)
		}
		for _, ref := range msgs[i].GetQueueRefs() {
			if int(ref) >= len(specs) {
				return nil, fmt.Errorf("%w: message %d refers to queue %d of %d", fsm.ErrInvalid, i, ref, len(specs))
			}
		}
	}
	return q.commit.submit(ctx, specs, msgs)
}

// TransferGroupLeadership hands the leadership of the named group, which
// this node must lead, to the server with id target.
func (n *Node) TransferGroupLeadership(group, target string) error {
	g := n.groupByName(group)
	if g == nil {
		return fmt.Errorf("%w: no group %q on this node", fsm.ErrNotFound, group)
	}
	servers, err := g.Configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if string(s.ID) == target {
			return g.TransferLeadershipTo(s.ID, s.Address)
		}
	}
	return fmt.Errorf("%w: %q is not a server of group %s", fsm.ErrNotFound, target, group)
}

// fromLeader is the error of a call forwarded to group's leader. A status
// the leader answered keeps its code and details (e.g. NOT_LEADER, or
// RESOURCE_EXHAUSTED from its watermark) and its message, which says where
// it came from once instead of nesting "rpc error: code = …" texts.
func fromLeader(group string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("forward to the leader of %s: %w", group, err)
	}
	p := st.Proto()
	p.Message = fmt.Sprintf("%s (answered by the leader of %s)", p.GetMessage(), group)
	return status.FromProto(p).Err()
}
