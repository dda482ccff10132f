package manage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/grpc/metadata"
)

// getRequest is the body of POST /api/queues/{vhost}/{name}/get, as
// RabbitMQ's: count messages, what to do with them (ackmode), how to show
// the payload (encoding auto or base64) and where to cut it (truncate).
type getRequest struct {
	Count    int    `json:"count"`
	AckMode  string `json:"ackmode"`
	Encoding string `json:"encoding"`
	Truncate int    `json:"truncate"`
	// Requeue is the field of older RabbitMQ versions; refused.
	Requeue *bool `json:"requeue"`
}

// maxGetCount bounds one get call's messages.
const maxGetCount = 1000

// getLease is how long the messages of a requeueing get stay out at most,
// should the call die before it returns them.
const getLease = 30 * time.Second

// gotMessage is one message a get returned.
type gotMessage struct {
	PayloadBytes    int            `json:"payload_bytes"`
	Redelivered     bool           `json:"redelivered"`
	Exchange        string         `json:"exchange"`
	RoutingKey      string         `json:"routing_key"`
	MessageCount    uint64         `json:"message_count"`
	Properties      propertiesJSON `json:"properties"`
	Payload         string         `json:"payload"`
	PayloadEncoding string         `json:"payload_encoding"`
}

// getMessages takes up to count messages: ack_requeue_false takes them
// for good (auto-ack); ack_requeue_true and reject_requeue_true give them
// back (redelivered) once all are read; reject_requeue_false discards
// them (dead-lettered where the queue has a dead-letter exchange).
func (s *Server) getMessages(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := vhostAndName(r, "queue")
	if err != nil {
		return err
	}
	var req getRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	if req.Requeue != nil {
		return badRequest("requeue: give ackmode (ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false)")
	}
	if req.Count < 1 || req.Count > maxGetCount {
		return badRequest("count %d: from 1 to %d", req.Count, maxGetCount)
	}
	if req.Truncate < 0 {
		return badRequest("truncate %d: a byte count, 0 for none", req.Truncate)
	}
	kind := broker.Return
	autoAck := false
	switch req.AckMode {
	case "ack_requeue_true", "reject_requeue_true":
	case "ack_requeue_false":
		autoAck = true
	case "reject_requeue_false":
		kind = broker.Discard
	default:
		return badRequest("ackmode %q: ack_requeue_true, ack_requeue_false, reject_requeue_true or reject_requeue_false", req.AckMode)
	}
	switch req.Encoding {
	case "", "auto", "base64":
	default:
		return badRequest("encoding %q: auto or base64", req.Encoding)
	}
	if err := s.authorize(c, vh, access.GetNeeds(name)...); err != nil {
		return err
	}
	g := &getter{s: s, vhost: vh, queue: name, session: randomSession()}
	out := []gotMessage{}
	var tags []uint64
	var getErr error
	for range req.Count {
		d, left, err := g.get(r.Context(), autoAck)
		if err != nil {
			getErr = err
			break
		}
		if d == nil {
			break
		}
		if !autoAck {
			tags = append(tags, d.Tag)
		}
		out = append(out, gotOut(*d, left, req.Encoding, req.Truncate))
	}
	// Give back (or discard) what was taken, even when a later get failed:
	// their lease would return them anyway, but later.
	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), requestTimeout)
	defer cancel()
	for _, tag := range tags {
		if err := g.settle(settleCtx, kind, tag); err != nil && getErr == nil {
			getErr = err
		}
	}
	if getErr != nil {
		return getErr
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func randomSession() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "http-get-" + hex.EncodeToString(b[:])
}

// getter takes messages from a queue through the leader of its group:
// this node's broker when it leads, else the leader's client API over
// the cluster connection (as the gRPC API proxies a get).
type getter struct {
	s                     *Server
	vhost, queue, session string
}

func (g *getter) get(ctx context.Context, autoAck bool) (*broker.Delivery, uint64, error) {
	d, left, err := g.s.b.Get(ctx, broker.GetOptions{VHost: g.vhost, Queue: g.queue, Session: g.session, AutoAck: autoAck, Lease: getLease})
	group, elsewhere := broker.LeaderElsewhere(err)
	if !elsewhere {
		return d, left, err
	}
	up, err := g.leader(group)
	if err != nil {
		return nil, 0, err
	}
	resp, err := up.Get(g.outgoing(ctx), &pb.GetRequest{
		Queue: g.queue, AutoAck: autoAck, SessionId: g.session, LeaseMs: getLease.Milliseconds(), MinMetaIndex: g.s.b.MetaIndex(),
	})
	if err != nil || resp.GetDelivery() == nil {
		return nil, resp.GetMessageCount(), err
	}
	got := deliveryOf(resp.GetDelivery())
	return &got, resp.GetMessageCount(), nil
}

func (g *getter) settle(ctx context.Context, kind broker.SettleKind, tag uint64) error {
	err := g.s.b.SettleGet(ctx, broker.SettleGetOptions{VHost: g.vhost, Queue: g.queue, Session: g.session, Kind: kind, Tag: tag})
	group, elsewhere := broker.LeaderElsewhere(err)
	if !elsewhere {
		return err
	}
	up, err := g.leader(group)
	if err != nil {
		return err
	}
	st := &pb.Settle{Kind: pb.SettleKind_SETTLE_KIND_NACK, DeliveryTag: tag, Requeue: kind == broker.Return}
	_, err = up.Settle(g.outgoing(ctx), &pb.SettleRequest{SessionId: g.session, Queue: g.queue, Settle: st})
	return err
}

func (g *getter) leader(group string) (pb.BrokerServiceClient, error) {
	conn, err := g.s.b.LeaderConn(group)
	if err != nil {
		return nil, err
	}
	return pb.NewBrokerServiceClient(conn), nil
}

// outgoing names the virtual host for the leader, as transport does.
func (g *getter) outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "warren-vhost", g.vhost)
}

// deliveryOf converts a proxied get's delivery.
func deliveryOf(d *pb.Delivery) broker.Delivery {
	m := d.GetMessage()
	p := m.GetProperties()
	return broker.Delivery{
		Tag: d.GetDeliveryTag(), Redelivered: d.GetRedelivered(), Exchange: d.GetExchange(), RoutingKey: d.GetRoutingKey(),
		Message: broker.Message{
			Body: m.GetBody(), Headers: valuesOf(m.GetHeaders()),
			Properties: broker.Properties{
				ContentType: p.GetContentType(), ContentEncoding: p.GetContentEncoding(), MessageID: p.GetMessageId(),
				CorrelationID: p.GetCorrelationId(), ReplyTo: p.GetReplyTo(), ExpirationMs: p.GetExpirationMs(),
				TimestampMs: p.GetTimestampMs(), Type: p.GetType(), AppID: p.GetAppId(), UserID: p.GetUserId(), Priority: p.GetPriority(),
			},
		},
	}
}

// valuesOf converts the scalar values of a proxied message's headers.
func valuesOf(m map[string]*pb.Value) map[string]broker.Value {
	out := make(map[string]broker.Value, len(m))
	for k, v := range m {
		switch x := v.GetKind().(type) {
		case *pb.Value_StringValue:
			out[k] = broker.Value{Type: broker.ValueString, Str: x.StringValue}
		case *pb.Value_IntValue:
			out[k] = broker.Value{Type: broker.ValueInt, Int: x.IntValue}
		case *pb.Value_BoolValue:
			out[k] = broker.Value{Type: broker.ValueBool, Bool: x.BoolValue}
		case *pb.Value_DoubleValue:
			out[k] = broker.Value{Type: broker.ValueFloat, Float: x.DoubleValue}
		case *pb.Value_BytesValue:
			out[k] = broker.Value{Type: broker.ValueBytes, Str: string(x.BytesValue)}
		}
	}
	return out
}

func gotOut(d broker.Delivery, left uint64, encoding string, truncate int) gotMessage {
	body := d.Message.Body
	out := gotMessage{
		PayloadBytes: len(body), Redelivered: d.Redelivered, Exchange: d.Exchange, RoutingKey: d.RoutingKey,
		MessageCount: left, Properties: propertiesOut(d.Message),
	}
	if truncate > 0 && len(body) > truncate {
		body = body[:truncate]
	}
	if encoding != "base64" && utf8.Valid(body) {
		out.Payload, out.PayloadEncoding = string(body), "string"
	} else {
		out.Payload, out.PayloadEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return out
}
