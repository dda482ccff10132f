// Package fsync makes written data durable: the two calls Warren's log
// store (cluster/raftgroup/segmentlog) and body store (broker/bodystore)
// make before they count a write as kept.
package fsync

import (
	"os"

	"golang.org/x/sys/unix"
)

// Data flushes f's data and the metadata needed to read it back (its
// size), which is all an append needs (fdatasync; a truncation needs
// f.Sync). It retries when a signal interrupts it.
func Data(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// Dir fsyncs a directory, so that the files created, renamed or removed
// in it survive a power loss.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
