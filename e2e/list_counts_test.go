package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// wantCountsNow fails unless a list of queue through c, made now (no
// polling), shows want: what was confirmed before must be counted.
func wantCountsNow(t *testing.T, what string, c *client.Client, queue string, want counts) {
	t.Helper()
	got, err := getCounts(testCtx(t, 20*time.Second), c, queue)
	if err != nil {
		t.Fatalf("%s: list: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: listed %v, want %v", what, got, want)
	}
}

// TestListCountsReadYourWrites (issue 10, first hour 4): a queue list made
// right after a confirmed publish, an ack, or a consumer's end counts
// them, through either follower of the queue's group (real processes,
// default Raft timings: a follower learns of a commit up to 50 ms late),
// for the client that saw them and for another one, and for a `warren
// consume` that has exited followed by a `warren queue list`. Before, a
// follower answered from its lagging copy: one publish behind, and
// CONSUMERS 1 after the consumer had gone. And the first listing after
// the queue group's first publish counted nothing in 3 of 5 CI runs: the
// follower trusted Raft's applied index while its FSM had applied nothing
// yet (raftgroup.TestCaughtUpWaitsForTheFSM).
func TestListCountsReadYourWrites(t *testing.T) {
	_, _, followers := clusterWithQueue(t, "counts")
	c := newClient(t, followers[0].grpcAddr)
	other := newClient(t, followers[1].grpcAddr)
	listers := map[string]*client.Client{"the publishing client": c, "a client of the other follower": other}

	const n = 20
	for i := 1; i <= n; i++ {
		publish(t, c, "", "counts", client.Message{Body: []byte(fmt.Sprint(i))}, client.Confirmed)
		for who, l := range listers {
			wantCountsNow(t, fmt.Sprintf("after publish %d, %s", i, who), l, "counts", counts{Ready: uint64(i)})
		}
	}

	ctx := testCtx(t, 60*time.Second)
	for i := 1; i <= 5; i++ {
		sub := subscribe(t, c, "counts", client.ConsumeOptions{Prefetch: 1})
		d := recv(t, sub, 10*time.Second)
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		for who, l := range listers {
			wantCountsNow(t, fmt.Sprintf("after consumer %d acked and closed, %s", i, who), l, "counts", counts{Ready: uint64(n - i)})
		}
	}

	// The CLI, one process after another, as a user types them.
	servers := "--server=" + followers[0].grpcAddr
	for i := 1; i <= 3; i++ {
		if out, errOut, code := runCLI(t, servers, "consume", "counts", "--count", "1"); code != 0 {
			t.Fatalf("warren consume: exit %d, %q %q", code, out, errOut)
		}
		if out, errOut, code := runCLI(t, servers, "publish", "", "counts", "more"); code != 0 {
			t.Fatalf("warren publish: exit %d, %q %q", code, out, errOut)
		}
		out, errOut, code := runCLI(t, servers, "queue", "list", "-o", "json")
		if code != 0 {
			t.Fatalf("warren queue list: exit %d, %q", code, errOut)
		}
		var qs []struct {
			Name           string
			Ready, Unacked uint64
			Consumers      uint32
		}
		if err := json.Unmarshal([]byte(out), &qs); err != nil {
			t.Fatalf("queue list -o json: %v in %q", err, out)
		}
		found := false
		for _, q := range qs {
			if q.Name == "counts" {
				found = true
				if q.Ready != n-5 || q.Unacked != 0 || q.Consumers != 0 {
					t.Fatalf("round %d: warren queue list after consume --count 1 and publish: %+v, want ready=%d unacked=0 consumers=0", i, q, n-5)
				}
			}
		}
		if !found {
			t.Fatalf("queue counts not listed: %s", out)
		}
	}
}
