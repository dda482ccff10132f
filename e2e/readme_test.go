package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// walkThroughMark is the comment line that marks, in README.md, an sh
// block that the walk-through test runs.
const walkThroughMark = "<!-- walk-through"

// readme returns README.md of the module.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// walkThrough returns the sh blocks of the README that follow a
// walkThroughMark line, in order, each introduced by a comment naming
// its line in README.md.
func walkThrough(t *testing.T, text string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	var b strings.Builder
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], walkThroughMark) {
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "```sh" {
			t.Fatalf("README.md:%d: the walk-through mark is not right before a ```sh block", i+1)
		}
		fmt.Fprintf(&b, "# README.md:%d\n", i+3)
		for i += 2; i < len(lines) && lines[i] != "```"; i++ {
			b.WriteString(lines[i] + "\n")
		}
		blocks++
	}
	if blocks < 4 {
		t.Fatalf("%d walk-through blocks in README.md; the Quick start, the walk-through, users and TLS are marked", blocks)
	}
	return b.String()
}

// TestREADMEWalkThrough (issue 10, first hour 2): the README's Quick start
// and walk-through (and its users and TLS blocks), extracted from
// README.md as they are printed, run as one bash script in a fresh
// directory with freshly built binaries, and do what the README says:
// round-robin over three workers, a job redelivered after its worker was
// killed with kill -9 (the job numbers of "kill -9 %4" failed in a fresh
// shell and the demo printed {"empty":true}), routing, users, certificates.
// The node gets OS-picked ports: its binary here is a wrapper adding them
// (later flags win) and the CLI reads WARREN_SERVER.
func TestREADMEWalkThrough(t *testing.T) {
	script := walkThrough(t, readme(t))
	dir := t.TempDir()
	grpcAddr := freeAddr(t)
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\" --grpc-addr %s --raft-addr %s --gossip-addr %s --amqp-addr 127.0.0.1:0\n",
		nodeBinary, grpcAddr, freeAddr(t), freeGossipAddr(t))
	if err := os.WriteFile(filepath.Join(dir, "warren-node"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cliBinary(t), filepath.Join(dir, "warren")); err != nil {
		t.Fatal(err)
	}
	// set -e: a command of the README that fails fails the test. Then
	// stop the node as the README says.
	full := "set -e\n" + script + "# the test\nkill $node\nwait $node\n"
	if err := os.WriteFile(filepath.Join(dir, "walkthrough.sh"), []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), scaled(3*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "walkthrough.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WARREN_SERVER="+grpcAddr)
	// Its own process group, so that the workers it starts in the
	// background die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errOut lineBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	start := time.Now()
	err := cmd.Run()
	stdout := out.String()
	t.Logf("walk-through ran in %v", time.Since(start).Round(10*time.Millisecond))
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "warren-node.log"))
		t.Fatalf("walk-through script: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s\nnode log:\n%s", err, full, stdout, errOut.String(), log)
	}
	t.Logf("stdout:\n%s", stdout)

	// Round-robin: every job printed once, by one of the three workers,
	// each worker getting some.
	jobLine := regexp.MustCompile(`(?m)^tag=\d+ consumer=([ABC]) key=jobs redelivered=false job (\d)$`)
	jobs, workers := map[string]int{}, map[string]int{}
	for _, m := range jobLine.FindAllStringSubmatch(stdout, -1) {
		workers[m[1]]++
		jobs[m[2]]++
	}
	for i := 1; i <= 9; i++ {
		if n := jobs[fmt.Sprint(i)]; n != 1 {
			t.Errorf("job %d printed %d times", i, n)
		}
	}
	for _, w := range []string{"A", "B", "C"} {
		if workers[w] == 0 {
			t.Errorf("worker %s got no job (%v)", w, workers)
		}
	}
	// The job of the killed worker comes back, redelivered.
	if !regexp.MustCompile(`(?m)^\{"body":"important",.*"redelivered":true,"delivery_count":1,`).MatchString(stdout) {
		t.Errorf("no redelivered important job from get -o json")
	}
	for _, want := range []string{
		"\nunroutable\nexit status 1\n", // --mandatory, reported back
		"\napp.jobs\n",                  // declared by user app
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// 9 jobs, "important", "disk full" and the unroutable non-mandatory
	// one: confirmed, exit status 0 (set -e).
	if n := len(regexp.MustCompile(`(?m)^confirmed$`).FindAllString(stdout, -1)); n != 12 {
		t.Errorf("%d publishes confirmed, want 12", n)
	}
	if !regexp.MustCompile(`(?m)^errors\s+1\s+0\s+0(\s|$)`).MatchString(stdout) {
		t.Errorf("queue list does not show errors with one ready message")
	}
	for _, f := range []string{"warren-ca.pem", "warren-ca-key.pem", "node-a.pem", "alice-key.pem", "gossip.key"} {
		if _, err := os.Stat(filepath.Join(dir, "tls", f)); err != nil {
			t.Errorf("tls/%s: %v", f, err)
		}
	}
}

// TestREADMEHousekeeping (issue 10, first hour 10): what the README and
// the repository promise a reader holds. Every README section that a
// source file, script or document cites (as README, then the quoted title) is a heading of README.md (scripts/test.sh
// cited one that did not exist); the Quick start builds the warren-node
// binary the rest of the README runs; the README does not send readers to
// notes they cannot see; what the README's commands leave in a clone is
// ignored by git.
func TestREADMEHousekeeping(t *testing.T) {
	text := readme(t)
	headings := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			headings[h] = true
		} else if h, ok := strings.CutPrefix(l, "### "); ok {
			headings[h] = true
		}
	}
	cite := regexp.MustCompile(`README "([^"]+)"`)
	var cited int
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "testdata" || d.Name() == "local-cluster") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sh") || strings.HasSuffix(path, ".md")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range cite.FindAllStringSubmatch(string(b), -1) {
			cited++
			if name := strings.Join(strings.Fields(m[1]), " "); !headings[name] {
				t.Errorf("%s cites README %q, which has no such section", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited == 0 {
		t.Error("no README section cited anywhere: the pattern is wrong")
	}

	quick, _, _ := strings.Cut(text[strings.Index(text, "## Quick start"):], "\n## ")
	if !strings.Contains(quick, "go build -o warren-node ./cmd/node") || !strings.Contains(quick, "go build -o warren ./cmd/warren") {
		t.Error("the Quick start does not build ./warren-node and ./warren")
	}
	if strings.Contains(text, "issue notes") {
		t.Error(`the README refers readers to "issue notes"`)
	}

	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git: %v", err)
	}
	if out, err := exec.Command("git", "-C", "..", "rev-parse", "--is-inside-work-tree").Output(); err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Skip("not in a git work tree")
	}
	for _, p := range []string{"local-cluster/node-a/data/x", "warren-data/x", "warren-node", "warren", "warren-node.log", "tls/warren-ca-key.pem", "new.key"} {
		if err := exec.Command("git", "-C", "..", "check-ignore", "-q", p).Run(); err != nil {
			t.Errorf("git does not ignore %s, which the README's commands create", p)
		}
	}
}
