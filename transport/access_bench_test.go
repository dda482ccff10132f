package transport_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/transport/transporttest"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// BenchmarkConnectWithAuth measures new client connections per second
// with authentication on: each iteration dials, logs in (a password the
// node verified before, so the cached verification answers) and makes one
// call. Without auth for comparison: BenchmarkConnectWithoutAuth.
func BenchmarkConnectWithAuth(b *testing.B) {
	benchConnect(b, &access.Options{})
}

func BenchmarkConnectWithoutAuth(b *testing.B) {
	benchConnect(b, nil)
}

func benchConnect(b *testing.B, opts *access.Options) {
	n := transporttest.Start(b, transporttest.Options{QueueGroups: 1, Access: opts})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		c := dialAs(b, n.Addr, "guest", "guest")
		if _, err := pb.NewAccessServiceClient(c.cc).WhoAmI(ctx, &pb.WhoAmIRequest{}); err != nil {
			b.Fatal(err)
		}
		_ = c.cc.Close()
	}
}
