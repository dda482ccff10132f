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

// Start asks the kernel to begin writing n bytes of f from off back to
// the disk, and returns at once (sync_file_range with WRITE only): it
// promises nothing — Data does — but spreads write-back over time, so a
// later Data has less to flush. Errors are ignored for that reason.
func Start(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
