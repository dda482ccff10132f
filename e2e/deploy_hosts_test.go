package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/certs"
	"github.com/warrenmq/warren/internal/netlab"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// A deploy tested on hosts: what README "Operating a cluster" tells an
// operator to do, done to warren-node processes on netlab hosts, each host
// with its own disk (a small tmpfs) for its data directory, its own
// /etc/warren (certificates, gossip key, the bootstrap password) and the
// node.toml that deploy/node-config.sh makes, run the way the systemd unit
// runs it: warren-node --config node.toml and nothing else.

// Versions of the two builds of the rolling upgrade.
const (
	deployV1 = "v1.0.0-e2e"
	deployV2 = "v1.1.0-e2e"
)

// deployDiskSize is each host's disk; the configs set the disk watermark
// well under it (deployDiskLow), as an operator does for a small disk.
const (
	deployDiskSize = 128 << 20
	deployDiskLow  = 32 << 20
)

// deployHost is one host of the deploy: its directories (bin, etc, data)
// and its warren-node process.
type deployHost struct {
	t       *testing.T
	id      string
	zone    string
	host    *netlab.Host
	dir     string // the host's own root: bin/, etc/, data/, node.toml, node.log
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

func (d *deployHost) path(parts ...string) string {
	return filepath.Join(append([]string{d.dir}, parts...)...)
}
func (d *deployHost) grpcAddr() string { return net.JoinHostPort(d.host.IP, "5680") }
func (d *deployHost) httpAddr() string { return net.JoinHostPort(d.host.IP, "5683") }

// newDeployHost lays out a host's directories and mounts its disk.
func newDeployHost(t *testing.T, root, id, zone string, h *netlab.Host) *deployHost {
	t.Helper()
	d := &deployHost{t: t, id: id, zone: zone, host: h, dir: filepath.Join(root, id)}
	for _, sub := range []string{"bin", "etc/tls", "data"} {
		if err := os.MkdirAll(d.path(sub), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	mountDisk(t, d.path("data"), deployDiskSize)
	return d
}

// mountDisk mounts a tmpfs of size bytes on dir for the test; the mount is
// undone at cleanup (registered before any node starts, so after they are
// gone). The node processes see it: ip netns exec gives them a mount
// namespace that follows the test's.
func mountDisk(t *testing.T, dir string, size int) {
	t.Helper()
	if err := unix.Mount("warren-e2e-disk", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs as a host's disk: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// install puts a warren-node build at the host's bin/warren-node, as a
// package upgrade does: a new file renamed over the old one, so a running
// process keeps its binary.
func (d *deployHost) install(bin string) {
	d.t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		d.t.Fatal(err)
	}
	tmp := d.path("bin", ".warren-node.new")
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.path("bin", "warren-node")); err != nil {
		d.t.Fatal(err)
	}
}

// writeConfig makes the host's node.toml with deploy/node-config.sh, its
// paths under the host's directory, and lowers the disk watermark for the
// small disk as an operator would (appending to the file).
func (d *deployHost) writeConfig(join []string, expect int) {
	d.t.Helper()
	args := []string{filepath.Join(repoRoot(d.t), "deploy", "node-config.sh"),
		"--id", d.id, "--zone", d.zone, "--ip", d.host.IP, "--join", strings.Join(join, ","),
		"--data-dir", d.path("data"), "--etc-dir", d.path("etc")}
	if expect > 0 {
		args = append(args, "--bootstrap-expect", fmt.Sprint(expect), "--bootstrap-user", "alice")
	}
	out, err := exec.Command("bash", args...).Output()
	if err != nil {
		d.t.Fatalf("node-config.sh %v: %v", args[1:], err)
	}
	out = append(out, fmt.Sprintf("\n# e2e: a %d MiB disk\ndisk-free-low-watermark = \"%dMiB\"\n", deployDiskSize>>20, deployDiskLow>>20)...)
	if err := os.WriteFile(d.path("node.toml"), out, 0o640); err != nil {
		d.t.Fatal(err)
	}
}

// start runs bin/warren-node --config node.toml on the host, as the
// systemd unit does; output is appended to node.log.
func (d *deployHost) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.path("node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== e2e: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := d.host.Command(context.Background(), d.path("bin", "warren-node"), "--config", d.path("node.toml"))
	cmd.Env = nodeEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	logf.Close() // the child has its own copy
	if err != nil {
		d.t.Fatalf("start %s: %v", d.id, err)
	}
	exited := make(chan struct{})
	d.cmd, d.exited = cmd, exited
	go func() {
		d.waitErr = cmd.Wait()
		close(exited)
	}()
	d.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
}

// stop sends SIGTERM (systemctl stop) and waits for a clean exit.
func (d *deployHost) stop() time.Duration {
	d.t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(scaled(60 * time.Second)):
		d.t.Fatalf("%s did not stop within 60s of SIGTERM", d.id)
	}
	if d.waitErr != nil {
		d.t.Fatalf("%s exited with %v after SIGTERM:\n%s", d.id, d.waitErr, d.log())
	}
	return time.Since(start)
}

// kill is the host lost at once: SIGKILL.
func (d *deployHost) kill() {
	d.t.Helper()
	_ = d.cmd.Process.Kill()
	<-d.exited
}

func (d *deployHost) log() string {
	b, err := os.ReadFile(d.path("node.log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// repoRoot is the module's directory (where deploy/ is).
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// deployPKI makes what README "TLS certificates" makes with warren tls: a
// CA, a node certificate per host for its address, alice's client
// certificate, the gossip key and alice's password; it copies each host's
// share into its etc/, and returns the clients' TLS config (the CA and
// alice's certificate, which logs the clients in as alice).
func deployPKI(t *testing.T, hosts []*deployHost) *tls.Config {
	t.Helper()
	caPEM, caKey, err := certs.NewCA("deploy e2e CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	gossip := make([]byte, 32)
	_, _ = rand.Read(gossip)
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range hosts {
		cert, key, err := certs.NewCert(caPEM, caKey, certs.CertOptions{NodeID: d.id, IPs: []net.IP{net.ParseIP(d.host.IP)}})
		if err != nil {
			t.Fatal(err)
		}
		write(d.path("etc", "tls", "warren-ca.pem"), caPEM)
		write(d.path("etc", "tls", d.id+".pem"), cert)
		write(d.path("etc", "tls", d.id+"-key.pem"), key)
		write(d.path("etc", "tls", "gossip.key"), []byte(base64.StdEncoding.EncodeToString(gossip)+"\n"))
		write(d.path("etc", "alice.password"), []byte("alice-s3cret\n"))
	}
	aliceCert, aliceKey, err := certs.NewCert(caPEM, caKey, certs.CertOptions{CommonName: "alice", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(aliceCert, aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// deployClient is an SDK client on the clients' host, over TLS, logged in
// by alice's certificate; closed at cleanup.
func deployClient(t *testing.T, ch *netlab.Host, cfg *tls.Config, hosts ...*deployHost) *client.Client {
	t.Helper()
	var addrs []string
	for _, d := range hosts {
		addrs = append(addrs, d.grpcAddr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), scaled(20*time.Second))
	defer cancel()
	c, err := client.New(ctx, addrs, labDialer(ch), client.WithTLS(cfg.Clone()), client.WithConnectTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("client.New(%v): %v", addrs, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// deployRaw is a plain gRPC client of the broker API at d, over TLS from
// the clients' host, logged in by alice's certificate.
func deployRaw(t *testing.T, ch *netlab.Host, cfg *tls.Config, d *deployHost) pb.BrokerServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(d.grpcAddr(),
		grpc.WithTransportCredentials(credentials.NewTLS(cfg.Clone())),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return ch.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return pb.NewBrokerServiceClient(cc)
}

// deployHTTP is an HTTPS client on the clients' host with alice's
// certificate, for /readyz and /metrics.
func deployHTTP(ch *netlab.Host, cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout: scaled(5 * time.Second),
		Transport: &http.Transport{
			TLSClientConfig: cfg.Clone(),
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return ch.DialContext(ctx, network, addr)
			},
		},
	}
}

// get fetches https://addr/path and returns the status code and body.
func get(hc *http.Client, addr, path string) (int, string, error) {
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitReadyz waits until the node's /readyz answers 200.
func waitReadyz(t *testing.T, hc *http.Client, d *deployHost) {
	t.Helper()
	eventually(t, 60*time.Second, d.id+" /readyz 200", func() error {
		select {
		case <-d.exited:
			t.Fatalf("%s exited: %v\n%s", d.id, d.waitErr, d.log())
		default:
		}
		code, body, err := get(hc, d.httpAddr(), "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, strings.TrimSpace(body))
		}
		return nil
	})
}

// waitVersions waits until c's node sees each of ids alive and running
// version v.
func waitVersions(t *testing.T, c *client.Client, v string, ids ...string) {
	t.Helper()
	eventually(t, 30*time.Second, strings.Join(ids, ", ")+" running "+v, func() error {
		st, err := c.ClusterStatus(testCtx(t, 10*time.Second))
		if err != nil {
			return err
		}
		runs := map[string]string{}
		for _, m := range st.Members {
			if m.State == "alive" {
				runs[m.ID] = m.Version
			}
		}
		for _, id := range ids {
			if runs[id] != v {
				return fmt.Errorf("%s runs %q in %s's view (alive members: %v)", id, runs[id], st.NodeID, runs)
			}
		}
		return nil
	})
}

// diskFree is the free space of dir's file system, as the watermark
// monitor reads it.
func diskFree(t *testing.T, dir string) uint64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// metric returns the value text of a sample line of /metrics, "" if none.
func metric(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestDeployOnHosts: three hosts in network namespaces run the 3-zone
// deploy (TLS everywhere, encrypted gossip, alice bootstrapped), and the
// operator's sequence of README "Operating a cluster" runs under a
// confirming producer and a manual-ack consumer: a rolling upgrade from
// one build of warren-node to another, node by node (cluster status shows
// each member's version); a lost node replaced by a new host (remove-node,
// then the new node joins); a node's disk filling past its watermark
// (publishes refused) and recovering once space is freed. Every confirmed
// message is consumed.
func TestDeployOnHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole deploy (two builds, four hosts, about 20 s): not in -short runs")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("deploy/node-config.sh needs bash")
	}
	lab := newLab(t, "deploy", 5)
	lh := lab.Hosts()
	ch := lh[4] // the operator's and the clients' machine
	root := t.TempDir()
	a := newDeployHost(t, root, "node-a", "a", lh[0])
	b := newDeployHost(t, root, "node-b", "b", lh[1])
	c := newDeployHost(t, root, "node-c", "c", lh[2])
	spare := newDeployHost(t, root, "node-d", "c", lh[3]) // replaces node-c, in its zone
	founders := []*deployHost{a, b, c}
	all := []*deployHost{a, b, c, spare}
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range all {
				t.Logf("%s (%s) log:\n%s", d.id, d.host.IP, d.log())
			}
		}
	})

	began := time.Now()
	v1, err := build(t.TempDir(), "warren-node", "./cmd/node", "-ldflags", "-X github.com/warrenmq/warren/internal/version.version="+deployV1)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := build(t.TempDir(), "warren-node", "./cmd/node", "-ldflags", "-X github.com/warrenmq/warren/internal/version.version="+deployV2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s and %s in %v", deployV1, deployV2, time.Since(began).Round(time.Millisecond))

	tlsCfg := deployPKI(t, all)
	var join []string
	for _, d := range founders {
		join = append(join, d.host.IP)
	}
	for _, d := range founders {
		d.writeConfig(join, len(founders))
		d.install(v1)
	}
	spare.writeConfig(join, 0)

	// Forming: the three founding nodes start (as systemctl start on each
	// host) and bootstrap together.
	formStart := time.Now()
	for _, d := range founders {
		d.start()
	}
	hc := deployHTTP(ch, tlsCfg)
	for _, d := range founders {
		waitReadyz(t, hc, d)
	}
	admin := deployClient(t, ch, tlsCfg, founders...)
	ids := []string{"node-a", "node-b", "node-c"}
	waitHealthy(t, admin, ids, 50)
	waitVersions(t, admin, deployV1, ids...)
	if who, err := admin.WhoAmI(testCtx(t, 10*time.Second)); err != nil || who.User != "alice" {
		t.Fatalf("whoami: %+v, %v; want alice, logged in by her certificate", who, err)
	}
	t.Logf("cluster of %v formed and ready in %v", ids, time.Since(formStart).Round(time.Millisecond))

	const q = "deploy"
	declareQueue(t, admin, q, nil)
	l := startLoadWith(t, deployClient(t, ch, tlsCfg, a, b, c), deployClient(t, ch, tlsCfg, c, b, a), q, 10*time.Millisecond, 100000)
	l.waitProgress(50, "before the upgrade")

	// The rolling upgrade: on each host in turn, install the new build,
	// restart (SIGTERM, start), and wait until the node is ready and the
	// cluster healthy before the next.
	upgradeStart := time.Now()
	for _, d := range founders {
		stepStart := time.Now()
		d.install(v2)
		stopped := d.stop()
		l.waitProgress(10, "while "+d.id+" is down")
		d.start()
		waitReadyz(t, hc, d)
		waitHealthy(t, admin, ids, 50)
		waitVersions(t, admin, deployV2, d.id)
		step := time.Since(stepStart)
		l.waitProgress(20, "after "+d.id+" runs "+deployV2)
		t.Logf("upgrade %s to %s: stopped in %v, ready and cluster healthy %v after the stop began", d.id, deployV2,
			stopped.Round(time.Millisecond), step.Round(time.Millisecond))
	}
	waitVersions(t, admin, deployV2, ids...)
	t.Logf("rolling upgrade of 3 nodes: %v", time.Since(upgradeStart).Round(time.Millisecond))

	// node-c's host is lost; the operator removes it and starts node-d on
	// a new host.
	replaceStart := time.Now()
	c.kill()
	waitMemberState(t, admin, c.id, "dead")
	groups, err := admin.RemoveNode(testCtx(t, 60*time.Second), c.id)
	if err != nil {
		t.Fatalf("remove-node %s: %v", c.id, err)
	}
	if len(groups) != 5 {
		t.Errorf("%s removed from %v, want the meta group and 4 queue groups", c.id, groups)
	}
	waitHealthy(t, admin, []string{"node-a", "node-b"}, 50)
	l.waitProgress(20, "with node-c removed")
	spare.install(v2)
	spare.start()
	waitReadyz(t, hc, spare)
	ids = []string{"node-a", "node-b", "node-d"}
	admin = deployClient(t, ch, tlsCfg, a, b, spare)
	waitHealthy(t, admin, ids, 50)
	waitVersions(t, admin, deployV2, ids...)
	l.waitProgress(20, "with node-d")
	t.Logf("node-c replaced by node-d in %v", time.Since(replaceStart).Round(time.Millisecond))

	// The disk of the node that leads the queue's group fills up: free
	// space under the watermark, publishes refused; freeing it lets them
	// in again, without a restart.
	leadersAtRest(t, admin, ids) // node-d has taken its share: no move now
	leaderID := queueLeaderID(t, deployRaw(t, ch, tlsCfg, a), q)
	var full *deployHost
	for _, d := range all {
		if d.id == leaderID {
			full = d
		}
	}
	if full == nil {
		t.Fatalf("queue %s led by %q, none of the running nodes", q, leaderID)
	}
	free := diskFree(t, full.path("data"))
	ballast := full.path("data", "ballast")
	fillTo := uint64(deployDiskLow / 2)
	if free <= fillTo {
		t.Fatalf("%s has only %d bytes free before the test fills its disk", full.id, free)
	}
	f, err := os.OpenFile(ballast, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(free-fillTo)); err != nil {
		t.Fatalf("fill %s's disk: %v", full.id, err)
	}
	f.Close()
	fullAt := time.Now()
	t.Logf("%s leads %s's group; its disk filled: %d KiB free of %d MiB (watermark %d MiB)",
		full.id, q, diskFree(t, full.path("data"))>>10, deployDiskSize>>20, deployDiskLow>>20)
	eventually(t, 30*time.Second, "the producer refused for "+full.id+"'s disk", func() error {
		err := l.producerError()
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "disk free space below low watermark") {
			return fmt.Errorf("producer's last error: %v", err)
		}
		return nil
	})
	tripped := time.Since(fullAt)
	if _, body, err := get(hc, full.httpAddr(), "/metrics"); err != nil || metric(body, "warren_disk_alarm") != "1" {
		t.Errorf("%s /metrics: warren_disk_alarm %q (%v), want 1", full.id, metric(body, "warren_disk_alarm"), err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	freedAt := time.Now()
	before := l.confirmedCount()
	eventually(t, 30*time.Second, "publishes confirmed again after "+full.id+"'s disk was freed", func() error {
		if n := l.confirmedCount(); n <= before {
			return fmt.Errorf("%d confirmed, %d before the disk was freed", n, before)
		}
		return nil
	})
	recovered := time.Since(freedAt)
	if _, body, err := get(hc, full.httpAddr(), "/metrics"); err != nil || metric(body, "warren_disk_alarm") != "0" {
		t.Errorf("%s /metrics: warren_disk_alarm %q (%v), want 0", full.id, metric(body, "warren_disk_alarm"), err)
	}
	t.Logf("%s's full disk: publishes refused %v after the fill, confirmed again %v after the space was freed",
		full.id, tripped.Round(time.Millisecond), recovered.Round(time.Millisecond))
	l.waitProgress(20, "after the disk recovered")

	l.finish()
	t.Logf("whole deploy sequence: %v", time.Since(began).Round(time.Millisecond))
}
