package amqp_test

import (
	"reflect"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/warrenmq/warren/client"
)

// A message published over AMQP is consumed over the gRPC SDK, and the
// reverse, with its headers and properties mapped one to one.
func TestAMQPAndGRPCInterop(t *testing.T) {
	s := startServer(t, serverOptions{})
	ctx := testCtx(t, 30*time.Second)
	sdk, err := client.New(ctx, []string{s.node.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdk.Close() })
	ch := channel(t, s.dial(t))
	for _, q := range []string{"to-grpc", "to-amqp"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	stamp := time.Unix(1700000000, 0)
	publishConfirmed(t, ch, "", "to-grpc", amqp091.Publishing{
		Headers:     amqp091.Table{"s": "str", "i": int32(-5), "l": int64(1 << 40), "b": true, "f": 1.5, "x": []byte{1, 2}, "a": []any{"p", int64(2)}, "t": amqp091.Table{"k": "v"}},
		ContentType: "application/json", ContentEncoding: "gzip", DeliveryMode: amqp091.Persistent, Priority: 3,
		CorrelationId: "corr", ReplyTo: "back", Expiration: "60000", MessageId: "mid", Timestamp: stamp,
		Type: "kind", UserId: "guest", AppId: "app", Body: []byte("from amqp"),
	})
	d, ok, err := sdk.Get(ctx, "to-grpc", client.GetOptions{AutoAck: true})
	if err != nil || !ok {
		t.Fatalf("sdk get: ok=%v err=%v", ok, err)
	}
	m := d.Message
	if string(m.Body) != "from amqp" || m.ContentType != "application/json" || m.ContentEncoding != "gzip" || m.Priority != 3 ||
		m.CorrelationID != "corr" || m.ReplyTo != "back" || m.Expiration != time.Minute || m.MessageID != "mid" ||
		!m.Timestamp.Equal(stamp) || m.Type != "kind" || m.UserID != "guest" || m.AppID != "app" {
		t.Fatalf("gRPC sees %+v", m)
	}
	wantHeaders := map[string]any{"s": "str", "i": int64(-5), "l": int64(1 << 40), "b": true, "f": 1.5, "x": []byte{1, 2}, "a": []any{"p", int64(2)}, "t": map[string]any{"k": "v"}}
	if !reflect.DeepEqual(m.Headers, wantHeaders) {
		t.Fatalf("gRPC headers %#v\nwant %#v", m.Headers, wantHeaders)
	}

	// And back: the SDK publishes, amqp091-go consumes.
	if _, err := sdk.Publish(ctx, "", "to-amqp", client.Message{
		Body: []byte("from grpc"), Headers: map[string]any{"n": int64(9), "s": "v"}, ContentType: "text/plain", MessageID: "m2",
		CorrelationID: "c2", ReplyTo: "r2", Type: "t2", AppID: "a2", Priority: 1, Timestamp: stamp, Expiration: 90 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	msgs, err := ch.Consume("to-amqp", "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := recv(t, msgs)
	if string(got.Body) != "from grpc" || got.ContentType != "text/plain" || got.MessageId != "m2" || got.CorrelationId != "c2" ||
		got.ReplyTo != "r2" || got.Type != "t2" || got.AppId != "a2" || got.Priority != 1 || !got.Timestamp.Equal(stamp) ||
		got.Expiration != "90000" || got.DeliveryMode != amqp091.Persistent {
		t.Fatalf("AMQP sees %+v", got)
	}
	if !reflect.DeepEqual(map[string]any(got.Headers), map[string]any{"n": int64(9), "s": "v"}) {
		t.Fatalf("AMQP headers %#v", got.Headers)
	}
}
