//go:build !linux

package netlab

import (
	"errors"
	"os/exec"
)

// Labs need Linux; probe says so before any of these is reached.
var errNotLinux = errors.New("netlab: network namespaces need Linux")

func inNamespace(string, func() error) error { return errNotLinux }

func tryLock(string) (func(), bool, error) { return nil, false, errNotLinux }

func killPid(int) error { return errNotLinux }

func processExists(int) bool { return false }

func setParentDeathSignal(*exec.Cmd) {}
