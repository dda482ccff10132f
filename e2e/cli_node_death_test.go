package e2e_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warrenmq/warren/client"
)

// TestCLIWhenANodeDies: the CLI against a 3-node cluster (real processes)
// one of whose nodes is killed with SIGKILL.
//
// Issue 10, first hour 3: `warren consume` given every node in --server
// keeps consuming when the node holding its stream (the queue's leader,
// listed first, so the CLI's own connection dies too) is killed: it
// subscribes again through another node and prints what is published
// afterwards, and exits 0 on SIGINT. It used to exit with "error reading
// from server: EOF (Unavailable)".
//
// Issue 10, first hour 6: `warren cluster status` then shows the dead
// member in every group with the documented lag=-1 (it printed no lag).
func TestCLIWhenANodeDies(t *testing.T) {
	slow(t)
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

	status := func() (string, error) {
		out, errOut, code := runCLI(t, "--server", followers[0].grpcAddr, "cluster", "status")
		if code != 0 {
			return "", fmt.Errorf("exit %d: %s", code, errOut)
		}
		return out, nil
	}
	// Just after the death a group may be between leaders (an election,
	// or the leaders being spread again), and then every lag is unknown
	// (-1) for that moment: wait for a status with every group led.
	dead := regexp.MustCompile(`(?m)^` + leader.id + `\s.*\sdead\s`)
	check := func(out string) error {
		if !dead.MatchString(out) {
			return fmt.Errorf("%s not listed dead yet:\n%s", leader.id, out)
		}
		groups := 0
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "meta ") && !regexp.MustCompile(`^q\d+ `).MatchString(line) {
				continue
			}
			groups++
			if !strings.Contains(line, leader.id+" lag=-1") {
				return fmt.Errorf("group line %q: want %s lag=-1", line, leader.id)
			}
			for _, f := range followers {
				if !regexp.MustCompile(f.id + ` lag=\d+`).MatchString(line) {
					return fmt.Errorf("group line %q: want %s with its lag", line, f.id)
				}
			}
		}
		if groups != 5 {
			return fmt.Errorf("%d group lines, want 5 (meta and 4 queue groups):\n%s", groups, out)
		}
		return nil
	}
	eventually(t, 30*time.Second, "the dead member listed with lag=-1, the others with their lags", func() error {
		out, err := status()
		if err != nil {
			return err
		}
		return check(out)
	})
}
