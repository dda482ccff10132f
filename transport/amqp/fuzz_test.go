package amqp_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/warrenmq/warren/transport/amqp/wire"
)

// FuzzConnection feeds arbitrary frames to a whole server connection,
// after a valid handshake, on a real node: the connection may end with a
// close, but nothing panics, the server never waits forever, and what it
// allocates is bounded by frame-max and the message size limit.
func FuzzConnection(f *testing.F) {
	var seed []byte
	seed = wire.AppendMethodFrame(seed, 1, &wire.ChannelOpen{})
	seed = wire.AppendMethodFrame(seed, 1, &wire.QueueDeclare{Queue: "fz", Arguments: wire.Table{"x-max-length": int32(3)}})
	seed = wire.AppendMethodFrame(seed, 1, &wire.ConfirmSelect{})
	seed = wire.AppendMethodFrame(seed, 1, &wire.BasicPublish{RoutingKey: "fz", Mandatory: true})
	seed = wire.AppendContent(seed, 1, 8192, &wire.Properties{Headers: wire.Table{"a": []any{int8(1)}}, Expiration: "10"}, []byte("body"))
	seed = wire.AppendMethodFrame(seed, 1, &wire.BasicConsume{Queue: "fz"})
	seed = wire.AppendMethodFrame(seed, 1, &wire.BasicGet{Queue: "fz"})
	seed = wire.AppendMethodFrame(seed, 1, &wire.BasicAck{Multiple: true})
	seed = wire.AppendMethodFrame(seed, 1, &wire.ChannelClose{})
	f.Add(seed)
	f.Add(wire.AppendMethodFrame(nil, 1, &wire.TxSelect{}))
	f.Add([]byte{1, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF})
	s := startServer(f, serverOptions{maxMsg: 64 << 10})
	handshake := append([]byte(nil), wire.ProtocolHeader...)
	handshake = wire.AppendMethodFrame(handshake, 0, &wire.ConnectionStartOk{Mechanism: "PLAIN", Response: []byte("\x00guest\x00guest"), Locale: "en_US"})
	handshake = wire.AppendMethodFrame(handshake, 0, &wire.ConnectionTuneOk{ChannelMax: 8, FrameMax: 8192})
	handshake = wire.AppendMethodFrame(handshake, 0, &wire.ConnectionOpen{VirtualHost: "/"})
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			s.srv.ServeConn(server)
			close(done)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(scaled(10 * time.Second)))
		if _, err := client.Write(handshake); err == nil {
			_, _ = client.Write(data)
		}
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(scaled(30 * time.Second)):
			t.Fatal("the connection did not end after the client went")
		}
	})
}
