//go:build !linux

package chaos

import "os/exec"

// setParentDeathSignal does nothing outside Linux: nodes of an interrupted
// run must be stopped by hand there.
func setParentDeathSignal(*exec.Cmd) {}
