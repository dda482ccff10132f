package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/warrenmq/warren/internal/netlab"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// node is one warren-node child process of the cluster, with its fixed
// identity, data directory and addresses (a restart reuses them: Raft
// knows a node by its address).
type node struct {
	id         string
	dataDir    string
	logPath    string
	grpcAddr   string
	raftAddr   string
	gossipAddr string
	amqpAddr   string
	host       *netlab.Host // nil on loopback
	bin        string
	flags      []string // cluster flags: --join, --bootstrap-expect, --zone, …

	// api is a connection of the harness to the node alone, for probes
	// and status; gRPC redials it after restarts.
	conn *grpc.ClientConn
	api  pb.BrokerServiceClient

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	waitErr error
	paused  bool
}

// args returns the node's command line.
func (n *node) args() []string {
	return append([]string{
		"--id", n.id,
		"--data-dir", n.dataDir,
		"--grpc-addr", n.grpcAddr,
		"--raft-addr", n.raftAddr,
		"--gossip-addr", n.gossipAddr,
		"--http-addr", "", // several nodes on one host: no fixed HTTP port
		"--amqp-addr", n.amqpAddr, // picked like the others (Options.Protocol amqp)
		// Test hosts in network namespaces on this machine: no TLS, and no
		// authentication (the harness checks durability; its clients dial
		// from namespaces, where guest would be refused).
		"--insecure", "--no-auth",
	}, n.flags...)
}

// launch starts the process without waiting for it to serve. The node's
// output is appended to its log file.
func (n *node) launch() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !isClosed(n.exited) {
		return fmt.Errorf("%s is already running", n.id)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== chaos: start %s %s %s\n", time.Now().Format(time.RFC3339Nano), n.bin, strings.Join(n.args(), " "))
	var cmd *exec.Cmd
	if n.host != nil {
		cmd = n.host.Command(context.Background(), n.bin, n.args()...)
	} else {
		cmd = exec.Command(n.bin, n.args()...)
		setParentDeathSignal(cmd)
	}
	cmd.Env = nodeEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited, n.paused, n.waitErr = cmd, exited, false, nil
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// nodeEnv is a node's environment: the harness's, less every WARREN_
// variable. warren-node reads WARREN_<OPTION> as its options, and the
// shell that runs "warren chaos run" may export the CLI's (WARREN_TLS_CERT
// and WARREN_TLS_KEY name node options too), so nodes get only their flags.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WARREN_") {
			env = append(env, kv)
		}
	}
	return env
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// running reports whether the process is alive (paused counts as alive).
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil && !isClosed(n.exited)
}

// signal sends sig to the running process.
func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || isClosed(n.exited) {
		return fmt.Errorf("%s is not running", n.id)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", n.id, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
	return nil
}

// kill sends SIGKILL (a no-op when the process is not running) and waits
// until the process is gone.
func (n *node) kill() error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", n.id, err)
	}
	select {
	case <-exited:
		n.mu.Lock()
		n.paused = false
		n.mu.Unlock()
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not die on SIGKILL within 10s", n.id)
	}
}

// exitedErr returns why the process exited, or nil while it runs.
func (n *node) exitedErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("never started")
	}
	if !isClosed(n.exited) {
		return nil
	}
	return fmt.Errorf("warren-node %s exited: %v (log %s)", n.id, n.waitErr, n.logPath)
}

// bindFailed reports whether the process exited because a port was taken.
func (n *node) bindFailed() bool {
	if n.exitedErr() == nil {
		return false
	}
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return false
	}
	// Only the last start's output counts.
	s := string(b)
	if i := strings.LastIndex(s, "=== chaos: start"); i >= 0 {
		s = s[i:]
	}
	return strings.Contains(s, "address already in use")
}

// waitServing polls until the node answers ListQueues (warren-node serves
// gRPC only once its Raft groups are ready), the process exits, or timeout
// passes.
func (n *node) waitServing(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := n.exitedErr(); err != nil {
			return err
		}
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		_, err := n.api.ListQueues(cctx, &pb.ListQueuesRequest{})
		ccancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not serving after %v: %w (log %s)", n.id, timeout, last, n.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// newNode prepares (does not start) node id.
func newNode(id, dataDir, bin string) *node {
	return &node{
		id:      id,
		dataDir: filepath.Join(dataDir, id),
		logPath: filepath.Join(dataDir, id+".log"),
		bin:     bin,
	}
}
