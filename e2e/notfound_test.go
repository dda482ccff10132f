package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// atOnce bounds how long a call naming something that does not exist may
// take. The fault it guards against took 10 s (the node waited for its
// meta state to reach the index of a Raft no-op, which it never applies);
// a follower's honest wait is the leader's commit timeout.
const atOnce = 2 * time.Second

// checkMissingAnswersAtOnce runs the first-hour calls that name a queue or
// exchange that does not exist, through c, and fails unless each answers
// within atOnce (scaled): NOT_FOUND for get, consume and a publish to a
// missing exchange, and a confirm for an unroutable, non-mandatory publish
// to the default exchange.
func checkMissingAnswersAtOnce(t *testing.T, via string, c *client.Client) {
	t.Helper()
	calls := []struct {
		what string
		want codes.Code
		call func(ctx context.Context) error
	}{
		{"get nosuchqueue", codes.NotFound, func(ctx context.Context) error {
			_, _, err := c.Get(ctx, "nosuchqueue", client.GetOptions{})
			return err
		}},
		{"consume nosuchqueue", codes.NotFound, func(ctx context.Context) error {
			sub, err := c.Subscribe(ctx, "nosuchqueue", client.ConsumeOptions{})
			if err == nil {
				_ = sub.Close()
			}
			return err
		}},
		{"publish nosuchexchange k x", codes.NotFound, func(ctx context.Context) error {
			_, err := c.Publish(ctx, "nosuchexchange", "k", client.Message{Body: []byte("x")})
			return err
		}},
		{`publish "" nosuchqueue x`, codes.OK, func(ctx context.Context) error {
			res, err := c.Publish(ctx, "", "nosuchqueue", client.Message{Body: []byte("x")})
			if err == nil && res.Status != client.Confirmed {
				return fmt.Errorf("status %v, want confirmed", res.Status)
			}
			return err
		}},
	}
	for _, k := range calls {
		// The ctx allows far more than atOnce, so a regression shows as
		// slow rather than as DeadlineExceeded.
		ctx, cancel := context.WithTimeout(context.Background(), scaled(30*time.Second))
		start := time.Now()
		err := k.call(ctx)
		took := time.Since(start)
		cancel()
		if got := status.Code(err); got != k.want {
			t.Errorf("%s via %s: %v (code %v), want code %v", k.what, via, err, got, k.want)
		}
		if took > scaled(atOnce) {
			t.Errorf("%s via %s took %v, want under %v", k.what, via, took, scaled(atOnce))
		}
	}
}

// TestMissingNamesAnswerAtOnce (issue 10, first hour 1): on a fresh
// single node, and on the same node restarted, where the meta log ends
// with Raft entries the state machine never sees (the bootstrap
// configuration, each term's no-op), a call naming a missing queue or
// exchange answers NOT_FOUND at once, and an unroutable non-mandatory
// publish is confirmed at once.
func TestMissingNamesAnswerAtOnce(t *testing.T) {
	dir := t.TempDir()
	n := transporttest.Start(t, transporttest.Options{DataDir: dir})
	checkMissingAnswersAtOnce(t, "a fresh node", newClient(t, n.Addr))

	n.Stop()
	n = transporttest.Start(t, transporttest.Options{DataDir: dir})
	checkMissingAnswersAtOnce(t, "the restarted node", newClient(t, n.Addr))
}

// TestMissingNamesAnswerAtOnceInACluster is TestMissingNamesAnswerAtOnce
// through every node of a 3-node cluster, and again through the two left
// once the meta leader has stopped: the new leader's log then ends with
// its no-op, which no state machine sees (before the fix every such call
// waited 10 s until some declaration moved the meta log on).
func TestMissingNamesAnswerAtOnceInACluster(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	for i, n := range nodes {
		checkMissingAnswersAtOnce(t, fmt.Sprintf("node%d", i+1), newClient(t, n.Addr))
	}

	old := metaLeader(t, nodes)
	nodes[old].Stop()
	var left []*transporttest.Node
	for i, n := range nodes {
		if i != old {
			left = append(left, n)
		}
	}
	metaLeader(t, left)
	for _, n := range left {
		checkMissingAnswersAtOnce(t, n.Broker.Node().NodeID()+" after the meta leader stopped", newClient(t, n.Addr))
	}
}

// metaLeader returns the index in nodes of the meta group's leader.
func metaLeader(t *testing.T, nodes []*transporttest.Node) int {
	t.Helper()
	leader := -1
	eventually(t, 20*time.Second, "the meta group has a leader", func() error {
		for i, n := range nodes {
			if n.Broker.Node().Group("meta").IsLeader() {
				leader = i
				return nil
			}
		}
		return errors.New("no node leads the meta group")
	})
	return leader
}
