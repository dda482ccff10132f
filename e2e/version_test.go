package e2e_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The version of a build: warren-node --version, and each member's version
// in cluster status (gossiped), with two builds in one cluster as during a
// rolling upgrade. The second build gets its version string at link time,
// as a release build does.

const otherVersion = "v9.9.9-e2e"

// buildOtherNode builds warren-node with its version set to v by -ldflags.
func buildOtherNode(t *testing.T, v string) string {
	t.Helper()
	bin, err := build(t.TempDir(), "warren-node", "./cmd/node", "-ldflags", "-X github.com/warrenmq/warren/internal/version.version="+v)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestNodeVersionFlag(t *testing.T) {
	other := buildOtherNode(t, otherVersion)
	for bin, want := range map[string]string{nodeBinary: "warren-node ", other: "warren-node " + otherVersion + " "} {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", bin, err, out)
		}
		if !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "go1.") {
			t.Errorf("%s --version printed %q, want it to start with %q and name the Go version", bin, out, want)
		}
	}
}

// TestProcessClusterVersions: a cluster of two builds shows each member's
// version in cluster status, on every node.
func TestProcessClusterVersions(t *testing.T) {
	other := buildOtherNode(t, otherVersion)
	procs := make([]*nodeProc, 3)
	var join []string
	for i := range procs {
		procs[i] = newClusterProc(t, fmt.Sprintf("n%d", i+1))
		join = append(join, procs[i].gossipAddr)
	}
	for _, p := range procs {
		p.extra = []string{"--bootstrap-expect", "3", "--join", strings.Join(join, ",")}
	}
	procs[2].binary = other
	launchCluster(t, procs)
	for _, p := range procs {
		c := newClient(t, p.grpcAddr)
		eventually(t, 30*time.Second, p.id+" shows every member's version", func() error {
			st, err := c.ClusterStatus(testCtx(t, 10*time.Second))
			if err != nil {
				return err
			}
			seen := 0
			for _, m := range st.Members {
				switch {
				case m.ID == "n3" && m.Version != otherVersion:
					return fmt.Errorf("n3 runs %q, want %q", m.Version, otherVersion)
				case m.ID != "n3" && (m.Version == "" || m.Version == otherVersion):
					return fmt.Errorf("%s runs %q, want the default build's version", m.ID, m.Version)
				}
				seen++
			}
			if seen != 3 {
				return fmt.Errorf("%d members listed, want 3", seen)
			}
			return nil
		})
	}
}
