package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runCLI runs the warren CLI with args to completion (bounded by 60 s,
// scaled) and returns its stdout, stderr and exit status.
func runCLI(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("warren %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// cliProc is a warren CLI command running in the background (consume);
// it is killed at cleanup if still running.
type cliProc struct {
	cmd    *exec.Cmd
	out    lineBuffer
	errOut lineBuffer
	exited chan struct{}
	err    error // Wait's; set before exited closes
}

// startCLI starts the warren CLI with args in the background.
func startCLI(t *testing.T, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{cmd: exec.Command(cliBinary(t), args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("warren %v\nstdout:\n%s\nstderr:\n%s", args, p.out.String(), p.errOut.String())
		}
	})
	return p
}

// waitLines waits until the command has printed lines containing each of
// wants, failing early if it exits.
func (p *cliProc) waitLines(t *testing.T, d time.Duration, wants ...string) {
	t.Helper()
	eventually(t, d, fmt.Sprintf("warren printed %q", wants), func() error {
		select {
		case <-p.exited:
			t.Fatalf("warren exited: %v; stderr %q", p.err, p.errOut.String())
		default:
		}
		out := p.out.String()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				return fmt.Errorf("no %q in %q", w, out)
			}
		}
		return nil
	})
}

// interrupt sends SIGINT and returns the exit status (failing after 30 s,
// scaled).
func (p *cliProc) interrupt(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(scaled(30 * time.Second)):
		t.Fatal("warren did not exit on SIGINT")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// lineBuffer is an io.Writer safe to read while a process writes to it.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
