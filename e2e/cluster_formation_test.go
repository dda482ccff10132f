package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/transport/transporttest"
)

// Cluster formation with real warren-node processes on loopback: nodes
// started together with --bootstrap-expect form one cluster, and a node
// started later with --join joins it. Whether the nodes form one cluster
// is checked through the meta log: a queue declared through one node is
// listed by every other (every node applies the meta log).

// newClusterProc prepares (does not start) cluster node id on fresh ports;
// it waits for serving with reads only.
func newClusterProc(t *testing.T, id string) *nodeProc {
	t.Helper()
	p := &nodeProc{
		t: t, id: id, dataDir: t.TempDir(), logPath: filepath.Join(t.TempDir(), id+".log"),
		grpcAddr: freeAddr(t), raftAddr: freeAddr(t), gossipAddr: freeGossipAddr(t),
		readOnlyProbe: true,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", id, p.log())
		}
	})
	return p
}

// startProcCluster starts size processes at once with --bootstrap-expect
// size, each given every node's gossip address in --join, and waits until
// all serve.
func startProcCluster(t *testing.T, size int) []*nodeProc {
	t.Helper()
	return startProcClusterFlags(t, size)
}

// startProcClusterFlags is startProcCluster with more flags for every node.
func startProcClusterFlags(t *testing.T, size int, flags ...string) []*nodeProc {
	t.Helper()
	procs := make([]*nodeProc, size)
	var join []string
	for i := range procs {
		procs[i] = newClusterProc(t, "n"+strconv.Itoa(i+1))
		join = append(join, procs[i].gossipAddr)
	}
	for i, p := range procs {
		p.extra = []string{
			"--bootstrap-expect", strconv.Itoa(size),
			"--join", strings.Join(join, ","),
			"--zone", string(rune('a' + i%3)),
		}
		p.extra = append(p.extra, flags...)
	}
	launchCluster(t, procs)
	return procs
}

// launchCluster launches procs and waits until every one serves. A
// process that exits because one of its OS-picked ports was taken in the
// meantime gets new ports and is launched again: its peers' join lists
// still name its old gossip address, but its own list names them, which
// is enough for gossip to meet.
func launchCluster(t *testing.T, procs []*nodeProc) {
	t.Helper()
	for _, p := range procs {
		if err := p.launch(); err != nil {
			t.Fatalf("launch %s: %v", p.id, err)
		}
	}
	serving := make([]bool, len(procs))
	relaunches := 0
	eventually(t, 90*time.Second, "every node serving", func() error {
		// Relaunch first, every node: the others wait for it to form the
		// cluster, so a probe of theirs fails until it is back.
		for i, p := range procs {
			if !serving[i] && p.bindFailed() && relaunches < 5 {
				relaunches++
				p.grpcAddr, p.raftAddr, p.gossipAddr = freeAddr(t), freeAddr(t), freeGossipAddr(t)
				if err := p.launch(); err != nil {
					return fmt.Errorf("relaunch %s: %w", p.id, err)
				}
			}
		}
		for i, p := range procs {
			if serving[i] {
				continue
			}
			if err := p.probe(); err != nil {
				return fmt.Errorf("%s: %w", p.id, err)
			}
			serving[i] = true
		}
		return nil
	})
}

// declareOnAny declares queue name through whichever node accepts it (the
// meta leader, or any node once followers forward), and returns that node.
func declareOnAny(t *testing.T, procs []*nodeProc, name string) *nodeProc {
	t.Helper()
	var done *nodeProc
	eventually(t, 20*time.Second, "declare "+name+" on some node", func() error {
		var errs []error
		for _, p := range procs {
			ctx, cancel := context.WithTimeout(context.Background(), scaled(2*time.Second))
			c, err := client.New(ctx, []string{p.grpcAddr}, client.WithConnectTimeout(time.Second))
			if err == nil {
				_, err = c.DeclareQueue(ctx, name, client.QueueOptions{})
				_ = c.Close()
			}
			cancel()
			if err == nil {
				done = p
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", p.id, err))
		}
		return errors.Join(errs...)
	})
	return done
}

// waitListedEverywhere waits until every node lists queue name.
func waitListedEverywhere(t *testing.T, procs []*nodeProc, name string) {
	t.Helper()
	clients := make([]*client.Client, len(procs))
	for i, p := range procs {
		clients[i] = newClient(t, p.grpcAddr)
	}
	ctx := testCtx(t, 30*time.Second)
	eventually(t, 20*time.Second, "queue "+name+" listed on every node", func() error {
		for i, c := range clients {
			if _, err := queueInfo(ctx, c, name); err != nil {
				return fmt.Errorf("%s: %w", procs[i].id, err)
			}
		}
		return nil
	})
}

// checkFormed fails unless the nodes form one cluster: a queue declared
// through one node is listed by all, and every node that bootstrapped the
// meta group did so with the same configuration, naming all of them.
func checkFormed(t *testing.T, procs []*nodeProc, queue string) {
	t.Helper()
	by := declareOnAny(t, procs, queue)
	t.Logf("declared %s through %s", queue, by.id)
	waitListedEverywhere(t, procs, queue)
	var ids []string
	for _, p := range procs {
		ids = append(ids, p.id)
	}
	want := `servers="` + strings.Join(ids, ",") + `"`
	bootstrapped := 0
	for _, p := range procs {
		for _, line := range strings.Split(p.log(), "\n") {
			if !strings.Contains(line, "warren.raft.meta: bootstrapped raft group") {
				continue
			}
			bootstrapped++
			if !strings.Contains(line, want) {
				t.Errorf("%s bootstrapped with another configuration: %s (want %s)", p.id, line, want)
			}
		}
	}
	if bootstrapped == 0 {
		t.Error("no node bootstrapped the meta group")
	}
	t.Logf("%d of %d nodes bootstrapped the meta group (%s)", bootstrapped, len(procs), want)
}

// TestProcessClusterOfThree: three warren-node processes started together
// with --bootstrap-expect 3 form one cluster.
func TestProcessClusterOfThree(t *testing.T) {
	procs := startProcCluster(t, 3)
	checkFormed(t, procs, "formed-3")
}

// TestProcessClusterOfFive: five processes with --bootstrap-expect 5.
func TestProcessClusterOfFive(t *testing.T) {
	slow(t)
	procs := startProcCluster(t, 5)
	checkFormed(t, procs, "formed-5")
}

// TestProcessClusterJoin: a fourth process started with --join (and the
// default --bootstrap-expect 1) joins a running three-node cluster: the
// meta leader adds it as a voter, and it applies the meta log from the
// start.
func TestProcessClusterJoin(t *testing.T) {
	procs := startProcCluster(t, 3)
	checkFormed(t, procs, "before-join")

	n4 := newClusterProc(t, "n4")
	n4.extra = []string{"--join", procs[0].gossipAddr + "," + procs[1].gossipAddr, "--zone", "a"}
	if err := n4.start(); err != nil {
		t.Fatalf("n4: %v", err)
	}
	all := append(procs, n4)
	waitListedEverywhere(t, all, "before-join")
	declareOnAny(t, procs, "after-join")
	waitListedEverywhere(t, all, "after-join")
	eventually(t, 10*time.Second, "n4 a voter of the meta group", func() error {
		for _, p := range procs {
			for _, line := range strings.Split(p.log(), "\n") {
				if strings.Contains(line, "warren.raft.meta: member is a voter") && strings.Contains(line, "member=n4") {
					return nil
				}
			}
		}
		return errors.New("no meta leader logged n4 as a voter")
	})
	if strings.Contains(n4.log(), "bootstrapped raft group") {
		t.Error("n4 bootstrapped a group of its own")
	}
}

// TestInProcessCluster: transporttest.StartCluster's nodes form one
// cluster reachable over gRPC (the helper other cluster tests build on).
func TestInProcessCluster(t *testing.T) {
	nodes := transporttest.StartCluster(t, 3, transporttest.Options{})
	procs := make([]*nodeProc, len(nodes))
	for i, n := range nodes {
		procs[i] = &nodeProc{id: n.Broker.Node().NodeID(), grpcAddr: n.Addr}
	}
	declareOnAny(t, procs, "in-process")
	waitListedEverywhere(t, procs, "in-process")
	eventually(t, 10*time.Second, "three members everywhere", func() error {
		for _, n := range nodes {
			if got := len(n.Broker.Node().Members()); got != 3 {
				return fmt.Errorf("%s sees %d members", n.Broker.Node().NodeID(), got)
			}
		}
		return nil
	})
}
