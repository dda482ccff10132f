package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestCLIConsumeFailsOver (issue 10, first hour 3): `warren consume` given
// every node in --server keeps consuming when the node holding its stream
// (the queue's leader, listed first, so the CLI's own connection dies too)
// is killed with SIGKILL: it subscribes again through another node and
// prints what is published afterwards, and exits 0 on SIGINT. It used to
// exit with "error reading from server: EOF (Unavailable)".
func TestCLIConsumeFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("3 warren-node processes and a kill: skipped with -short")
	}
	_, leader, followers := clusterWithQueue(t, "jobs")
	servers := strings.Join([]string{leader.grpcAddr, followers[0].grpcAddr, followers[1].grpcAddr}, ",")
	prod := newClientAddrs(t, []string{followers[0].grpcAddr, followers[1].grpcAddr})

	worker := startCLI(t, "--server", servers, "consume", "jobs", "--prefetch", "1", "--consumer-tag", "A")
	waitConsumers(t, prod, "jobs", 1)
	publish(t, prod, "", "jobs", client.Message{Body: []byte("before kill")}, client.Confirmed)
	worker.waitLines(t, 20*time.Second, "consumer=A key=jobs redelivered=false before kill")

	leader.kill()
	for _, body := range []string{"after kill 1", "after kill 2"} {
		publish(t, prod, "", "jobs", client.Message{Body: []byte(body)}, client.Confirmed)
	}
	worker.waitLines(t, 60*time.Second, "after kill 1", "after kill 2")
	if code := worker.interrupt(t); code != 0 {
		t.Fatalf("consume exited %d after SIGINT, want 0", code)
	}
	waitCounts(t, prod, "jobs", 0, 0)
}
