package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"google.golang.org/grpc/codes"
)

// terminate sends SIGTERM and waits for the process to exit by itself.
func (p *nodeProc) terminate() time.Duration {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	p.waitExit(scaled(30*time.Second), "SIGTERM")
	return time.Since(start)
}

// waitExit waits for the process to exit by itself.
func (p *nodeProc) waitExit(d time.Duration, after string) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %v after %s", p.id, d, after)
	}
}

func procAddrs(procs []*nodeProc) []string {
	var out []string
	for _, p := range procs {
		out = append(out, p.grpcAddr)
	}
	return out
}

// waitHealthy waits until, as c's node sees it, the members ids are alive
// and every group has a leader, has exactly ids as voters, and every voter
// is at most maxLag entries behind the leader.
func waitHealthy(t *testing.T, c *client.Client, ids []string, maxLag int64) client.ClusterStatus {
	t.Helper()
	var last client.ClusterStatus
	eventually(t, 60*time.Second, "cluster healthy with voters "+strings.Join(ids, ","), func() error {
		ctx := testCtx(t, 10*time.Second)
		st, err := c.ClusterStatus(ctx)
		if err != nil {
			return err
		}
		last = st
		return healthy(st, ids, maxLag)
	})
	return last
}

func healthy(st client.ClusterStatus, ids []string, maxLag int64) error {
	alive := map[string]bool{}
	for _, m := range st.Members {
		alive[m.ID] = m.State == "alive"
	}
	for _, id := range ids {
		if !alive[id] {
			return fmt.Errorf("%s not alive in %s's view", id, st.NodeID)
		}
	}
	for _, g := range st.Groups {
		if g.LeaderID == "" {
			return fmt.Errorf("group %s has no leader", g.Name)
		}
		var voters []string
		for _, p := range g.Peers {
			if p.Suffrage == "voter" {
				voters = append(voters, p.ID)
			}
			if p.Lag < 0 || p.Lag > maxLag {
				return fmt.Errorf("group %s: %s lag %d", g.Name, p.ID, p.Lag)
			}
		}
		if !slices.Equal(voters, ids) {
			return fmt.Errorf("group %s voters %v, want %v", g.Name, voters, ids)
		}
	}
	return nil
}

// waitMemberState waits until c's node sees member id in state.
func waitMemberState(t *testing.T, c *client.Client, id, state string) {
	t.Helper()
	eventually(t, 30*time.Second, id+" seen "+state, func() error {
		st, err := c.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == id && m.State != state {
				return fmt.Errorf("%s is %s in %s's view", id, m.State, st.NodeID)
			}
		}
		return nil
	})
}

// leaderCounts counts the queue groups each node leads.
func leaderCounts(st client.ClusterStatus) map[string]int {
	out := map[string]int{}
	for _, g := range st.Groups {
		if strings.HasPrefix(g.Name, "q") {
			out[g.LeaderID]++
		}
	}
	return out
}

// load is a producer with confirms and a consumer with manual acks on one
// queue, each through an SDK client that knows every node.
type load struct {
	t         *testing.T
	queue     string
	mu        sync.Mutex
	confirmed map[int]bool
	consumed  map[int]int
	published int
	lastErr   error // the producer's last failure
	stopPub   context.CancelFunc
	pubDone   chan struct{}
	stopCons  context.CancelFunc
	consDone  chan error
}

func startLoad(t *testing.T, addrs []string, queue string, rate time.Duration, limit int) *load {
	prod := newClientAddrs(t, addrs)
	cons := newClientAddrs(t, append(slices.Clone(addrs[1:]), addrs[0]))
	return startLoadWith(t, prod, cons, queue, rate, limit)
}

// startLoadWith is startLoad with the producer's and the consumer's clients
// made by the caller (TLS, a lab host's dialer).
func startLoadWith(t *testing.T, prod, cons *client.Client, queue string, rate time.Duration, limit int) *load {
	waitQueueKnown(t, cons, queue)
	l := &load{t: t, queue: queue, confirmed: map[int]bool{}, consumed: map[int]int{}, pubDone: make(chan struct{}), consDone: make(chan error, 1)}
	var pctx, cctx context.Context
	pctx, l.stopPub = context.WithCancel(context.Background())
	cctx, l.stopCons = context.WithCancel(context.Background())
	t.Cleanup(func() { l.stopPub(); l.stopCons() })
	go func() {
		l.consDone <- cons.Consume(cctx, queue, func(_ context.Context, d *client.Delivery) error {
			id, err := parseID(d.Body)
			if err != nil {
				return err
			}
			l.mu.Lock()
			l.consumed[id]++
			l.mu.Unlock()
			return nil
		}, client.ConsumeOptions{Prefetch: 20})
	}()
	go func() {
		defer close(l.pubDone)
		tick := time.NewTicker(rate)
		defer tick.Stop()
		for i := 0; i < limit; i++ {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(pctx, scaled(20*time.Second))
			res, err := prod.Publish(ctx, "", queue, client.Message{Body: []byte(strconv.Itoa(i))})
			cancel()
			l.mu.Lock()
			l.published = i + 1
			if err == nil && res.Status == client.Confirmed {
				l.confirmed[i] = true
			} else if err != nil {
				l.lastErr = err
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// producerError returns the producer's last failure.
func (l *load) producerError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *load) confirmedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.confirmed)
}

// waitProgress waits until n more messages are confirmed.
func (l *load) waitProgress(n int, what string) {
	l.t.Helper()
	target := l.confirmedCount() + n
	eventually(l.t, 60*time.Second, fmt.Sprintf("%d more confirmed publishes %s", n, what), func() error {
		if c := l.confirmedCount(); c < target {
			return fmt.Errorf("%d of %d confirmed", c, target)
		}
		return nil
	})
}

// finish stops the producer and checks that every confirmed message was
// consumed and nothing unpublished was.
func (l *load) finish() {
	l.t.Helper()
	l.stopPub()
	<-l.pubDone
	eventually(l.t, 60*time.Second, "every confirmed message consumed", func() error {
		select {
		case err := <-l.consDone:
			l.t.Fatalf("Consume ended early: %v", err)
		default:
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		missing := 0
		for id := range l.confirmed {
			if l.consumed[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d confirmed messages not consumed yet", missing, len(l.confirmed))
		}
		return nil
	})
	l.stopCons()
	<-l.consDone
	l.mu.Lock()
	defer l.mu.Unlock()
	dups := 0
	for id, n := range l.consumed {
		if id < 0 || id >= l.published {
			l.t.Errorf("consumed message %d that was never published", id)
		}
		if n > 1 {
			dups++
		}
	}
	l.t.Logf("%d published, %d confirmed, %d consumed (%d more than once)", l.published, len(l.confirmed), len(l.consumed), dups)
}

// TestRollingRestartUnderLoad: three warren-node processes serve a
// producer (confirms) and a consumer (manual acks) while each node in turn
// gets SIGTERM, is started again, and the cluster is healthy again before
// the next. Publishing goes on through every step, every confirmed message
// is consumed, and the restarted nodes take back their share of the queue
// groups' leaderships. Then a node is killed with SIGKILL and restarted:
// it catches up and leads groups again.
func TestRollingRestartUnderLoad(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 3)
	ids := []string{"n1", "n2", "n3"}
	admin := newClientAddrs(t, procAddrs(procs))
	declareQueue(t, admin, "rolling", nil)
	waitHealthy(t, admin, ids, 50)

	l := startLoad(t, procAddrs(procs), "rolling", 10*time.Millisecond, 100000)
	l.waitProgress(50, "before the first restart")
	for _, p := range procs {
		took := p.terminate()
		t.Logf("%s stopped %v after SIGTERM", p.id, took.Round(time.Millisecond))
		l.waitProgress(20, "while "+p.id+" is down")
		p.restart()
		waitHealthy(t, admin, ids, 50)
		l.waitProgress(20, "after "+p.id+" is back")
	}
	eventually(t, 60*time.Second, "queue-group leaderships spread over the restarted nodes", func() error {
		st, err := admin.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		counts := leaderCounts(st)
		for _, id := range ids {
			if counts[id] == 0 {
				return fmt.Errorf("%s leads no queue group: %v", id, counts)
			}
		}
		return nil
	})

	victim := procs[1]
	victim.kill()
	l.waitProgress(20, "while "+victim.id+" is killed")
	victim.restart()
	waitHealthy(t, admin, ids, 50)
	eventually(t, 60*time.Second, victim.id+" leads a queue group again", func() error {
		st, err := admin.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		if leaderCounts(st)[victim.id] == 0 {
			return fmt.Errorf("%s leads no queue group: %v", victim.id, leaderCounts(st))
		}
		return nil
	})
	l.finish()
}

// TestRemoveNodeAndLeave: a fourth node joins a 3-node cluster and is then
// killed and removed with remove-node; a node is refused leave while that
// would cost the groups their quorum, and leaves once it would not (its
// process stops by itself). The cluster serves throughout.
func TestRemoveNodeAndLeave(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 3)
	n4 := newClusterProc(t, "n4")
	n4.extra = []string{"--join", procs[0].gossipAddr, "--zone", "d"}
	if err := n4.start(); err != nil {
		t.Fatalf("n4: %v", err)
	}
	admin := newClientAddrs(t, procAddrs(procs[:1]))
	waitHealthy(t, admin, []string{"n1", "n2", "n3", "n4"}, 50)
	declareQueue(t, admin, "ops", nil)
	l := startLoad(t, procAddrs(procs[:2]), "ops", 20*time.Millisecond, 100000)
	l.waitProgress(20, "with four nodes")

	ctx := testCtx(t, 60*time.Second)
	_, err := admin.RemoveNode(ctx, "n4")
	wantCode(t, "remove-node of an alive node", err, codes.FailedPrecondition)
	n4.kill()
	waitMemberState(t, admin, "n4", "dead")
	groups, err := admin.RemoveNode(ctx, "n4")
	if err != nil {
		t.Fatalf("remove-node n4: %v", err)
	}
	if len(groups) != 5 {
		t.Errorf("n4 removed from %v, want the meta group and 4 queue groups", groups)
	}
	waitHealthy(t, admin, []string{"n1", "n2", "n3"}, 50)
	l.waitProgress(20, "after n4 was removed")

	// With n2 down, n3 leaving would leave {n1, n2} with one alive voter.
	procs[1].kill()
	leaver := newClient(t, procs[2].grpcAddr)
	waitMemberState(t, leaver, "n2", "dead")
	_, err = leaver.LeaveCluster(ctx)
	wantCode(t, "leave that would break quorum", err, codes.FailedPrecondition)
	t.Logf("refused: %v", err)
	procs[1].restart()
	waitHealthy(t, admin, []string{"n1", "n2", "n3"}, 50)

	groups, err = leaver.LeaveCluster(ctx)
	if err != nil {
		t.Fatalf("n3 leave: %v", err)
	}
	if len(groups) != 5 {
		t.Errorf("n3 removed from %v, want 5 groups", groups)
	}
	procs[2].waitExit(scaled(30*time.Second), "leave")
	if !procs[2].cmd.ProcessState.Success() {
		t.Errorf("n3 exited with %v after leaving", procs[2].cmd.ProcessState)
	}
	waitHealthy(t, admin, []string{"n1", "n2"}, 50)
	l.waitProgress(20, "after n3 left")
	l.finish()
}
