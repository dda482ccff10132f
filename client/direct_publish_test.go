package client

import (
	"net"
	"sync"
	"testing"
	"time"
)

// A leader named by the answers whose address takes TCP connections and
// never speaks (as an address that drops packets would, or a paused
// process): publishes keep going through the connected node at once; the
// dial toward the leader runs in the background and never holds one up
// for the connect timeout.
func TestDirectPublishNeverWaitsForADial(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	fb := newFakeBroker()
	fb.leaderHint = silent.Addr().String()
	c := newTestClient(t, fb, WithConnectTimeout(3*time.Second))
	for i := range 10 {
		start := time.Now()
		res, err := c.Publish(testCtx(t), "", "q", Message{Body: []byte("m")})
		if err != nil || res.Status != Confirmed {
			t.Fatalf("publish %d: %v %v", i, res, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish %d took %v with a silent leader named: it waited for the dial", i, d)
		}
	}
	if got := len(fb.publishedEntries()); got != 10 {
		t.Fatalf("the connected node took %d of the 10 publishes, want all", got)
	}
}
