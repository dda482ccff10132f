//go:build !(linux || darwin || freebsd)

package watermark

import (
	"errors"
	"runtime"
)

// diskFree is not implemented here: the disk alarm stays clear (and the
// monitor logs why once).
func diskFree(string) (uint64, error) {
	return 0, errors.New("free disk space is not known on " + runtime.GOOS)
}
