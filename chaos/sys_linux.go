//go:build linux

package chaos

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel SIGKILL the node when the harness
// dies, so an interrupted run leaves no warren-node behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
