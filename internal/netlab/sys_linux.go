package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// inNamespace runs fn on a new goroutine locked to its OS thread while that
// thread is in the named network namespace (setns(2) changes only the
// calling thread). A thread that cannot go back to its own namespace stays
// locked, so the runtime ends it with the goroutine instead of reusing it.
// New threads the runtime starts meanwhile do not inherit the namespace:
// since Go 1.10 a locked thread never clones new ones itself.
func inNamespace(ns string, fn func() error) error {
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan outcome, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- outcome{err: fmt.Errorf("netlab: this thread's namespace: %w", err)}
			return
		}
		defer orig.Close()
		target, err := os.Open(netnsDir + ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- outcome{err: fmt.Errorf("netlab: namespace %s: %w", ns, err)}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			done <- outcome{err: fmt.Errorf("netlab: enter namespace %s: %w", ns, err)}
			return
		}
		var out outcome
		func() {
			defer func() {
				if v := recover(); v != nil {
					out.panicked, out.value = true, v
				}
			}()
			out.err = fn()
		}()
		if err := setns(orig); err != nil {
			out.err = errors.Join(out.err, fmt.Errorf("netlab: leave namespace %s: %w", ns, err))
		} else {
			runtime.UnlockOSThread()
		}
		done <- out
	}()
	out := <-done
	if out.panicked {
		panic(out.value)
	}
	return out.err
}

// setns uses x/sys/unix: the syscall package has no SYS_SETNS on amd64.
func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// tryLock takes an exclusive flock(2) on path without waiting. It reports
// false when another open file holds it (in this process or another). The
// lock lives as long as the returned unlock is not called and the process
// lives; the file is close-on-exec, so children never hold it. The file
// holds the owner's pid, for people looking.
func tryLock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("netlab: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("netlab: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, true, nil
}

func killPid(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// processExists reports whether a process with this pid exists.
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
