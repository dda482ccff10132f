//go:build linux || darwin || freebsd

package watermark

import "syscall"

// diskFree returns the bytes of dir's file system available to an
// unprivileged user (f_bavail: the root reserve does not count, as the
// node need not run as root).
func diskFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
