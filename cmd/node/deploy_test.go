package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The files of deploy/ are warren-node's configuration as operators get
// it: these tests hold them to the binary they configure.

const deployDir = "../../deploy"

// TestDeployExamples: the example configs are node-config.sh's output (as
// generate.sh makes them), and each one loads: every key known, every value
// valid, the node's id, zone and files where the file's name says.
func TestDeployExamples(t *testing.T) {
	examples := filepath.Join(deployDir, "examples")
	files, err := filepath.Glob(filepath.Join(examples, "*-zone", "*.toml"))
	if err != nil || len(files) != 9 {
		t.Fatalf("examples: %v, %v; want 3-zone/node-a … node-d and 5-zone/node-a … node-e", files, err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Log("no bash here: the examples are not compared with generate.sh's output")
	} else {
		out := t.TempDir()
		cmd := exec.Command("bash", filepath.Join(examples, "generate.sh"), out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("generate.sh: %v\n%s", err, b)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(examples, f)
			want, err := os.ReadFile(filepath.Join(out, rel))
			if err != nil {
				t.Fatalf("generate.sh made no %s: %v", rel, err)
			}
			if got, _ := os.ReadFile(f); !bytes.Equal(got, want) {
				t.Errorf("%s differs from generate.sh's output: run deploy/examples/generate.sh", rel)
			}
		}
	}
	for _, path := range append(files, filepath.Join(examples, "single-node.toml")) {
		rel, _ := filepath.Rel(deployDir, path)
		f, err := parseFlags([]string{"--config", path})
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if f.broker.Cluster.DataDir != "/var/lib/warren" {
			t.Errorf("%s: data-dir %q, want the unit's /var/lib/warren", rel, f.broker.Cluster.DataDir)
		}
		if strings.HasSuffix(rel, "single-node.toml") {
			continue
		}
		id := strings.TrimSuffix(filepath.Base(path), ".toml")
		c := f.broker.Cluster
		if c.NodeID != id || c.Zone == "" || len(c.Join) == 0 {
			t.Errorf("%s: id %q, zone %q, join %v", rel, c.NodeID, c.Zone, c.Join)
		}
		s := f.security
		if s.clientCert != "/etc/warren/tls/"+id+".pem" || s.clusterKey != "/etc/warren/tls/"+id+"-key.pem" ||
			s.clusterCA == "" || s.clientCA == "" || s.gossipKeyFile != "/etc/warren/tls/gossip.key" || s.insecure || s.noAuth {
			t.Errorf("%s: TLS and gossip files %+v", rel, s)
		}
		founding := f.broker.Cluster.BootstrapExpect > 1
		if founding != (s.bootstrapUser == "alice") || (founding && s.bootstrapPasswordFile != "/etc/warren/alice.password") {
			t.Errorf("%s: bootstrap-expect %d, bootstrap user %q (%q)", rel, c.BootstrapExpect, s.bootstrapUser, s.bootstrapPasswordFile)
		}
	}
}

// unit reads deploy/systemd/warren-node.service as section.key → values.
func unit(t *testing.T) (text string, keys map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "systemd", "warren-node.service"))
	if err != nil {
		t.Fatal(err)
	}
	keys = map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	return string(b), keys
}

// TestSystemdUnitHardening: the unit has what the best-kept service units
// have, reads its options from the config file only, and gives the node
// time for its hand-off before systemd kills it.
func TestSystemdUnitHardening(t *testing.T) {
	_, keys := unit(t)
	for k, want := range map[string]string{
		"Service.User":                     "warren",
		"Service.Group":                    "warren",
		"Service.ExecStart":                "/usr/local/bin/warren-node --config /etc/warren/node.toml",
		"Service.NoNewPrivileges":          "yes",
		"Service.ProtectSystem":            "strict",
		"Service.ProtectHome":              "yes",
		"Service.PrivateTmp":               "yes",
		"Service.PrivateDevices":           "yes",
		"Service.CapabilityBoundingSet":    "",
		"Service.AmbientCapabilities":      "",
		"Service.StateDirectory":           "warren",
		"Service.ReadWritePaths":           "/var/lib/warren",
		"Service.LimitNOFILE":              "65536",
		"Service.Restart":                  "on-failure",
		"Service.RestartPreventExitStatus": "2",
		"Service.KillSignal":               "SIGTERM",
		"Unit.StartLimitIntervalSec":       "600",
		"Unit.StartLimitBurst":             "10",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The unit's command line is one warren-node takes.
	args := strings.Fields(keys["Service.ExecStart"][0])[1:]
	if _, err := parseFlags(append(args, "--version")); err != nil {
		t.Errorf("ExecStart's options: %v", err)
	}
	stop, err := time.ParseDuration(keys["Service.TimeoutStopSec"][0] + "s")
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if budget := handOffTimeout + clientDrainTimeout + peerDrainTimeout; stop < 2*budget {
		t.Errorf("TimeoutStopSec=%v: the node may take %v to hand off and drain; give it twice that", stop, budget)
	}
	// Started again about once a minute while it waits for its peers
	// (ready-timeout 1m + RestartSec), a founding node must stay within
	// the start limit.
	interval, _ := strconv.Atoi(keys["Unit.StartLimitIntervalSec"][0])
	burst, _ := strconv.Atoi(keys["Unit.StartLimitBurst"][0])
	restart, _ := strconv.Atoi(keys["Service.RestartSec"][0])
	if waiting := interval / (60 + restart); waiting >= burst {
		t.Errorf("a founding node waiting for its peers starts %d times in %ds: more than StartLimitBurst=%d", waiting+1, interval, burst)
	}
}

// TestSystemdUnitVerifies: systemd-analyze verify passes on the unit, and
// systemd-analyze security rates its exposure at most 2.0 ("OK"). verify
// wants ExecStart's binary to exist, so the unit is checked as a copy whose
// ExecStart runs this test binary (any executable does).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here (apt-get install systemd): the unit is not verified")
	}
	text, _ := unit(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "warren-node")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "ExecStart=/usr/local/bin/warren-node ") {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/warren-node")
	}
	path := filepath.Join(dir, "warren-node.service")
	if err := os.WriteFile(path, []byte(strings.Replace(text, "ExecStart=/usr/local/bin/warren-node ", "ExecStart="+bin+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline is not available here: %v\n%s", err, out)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for warren-node.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f of 10", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0:\n%s", score, out)
	}
}
