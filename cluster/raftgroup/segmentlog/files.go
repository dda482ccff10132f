package segmentlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/internal/fsync"
	"golang.org/x/sys/unix"
)

// Files of a store's directory.
const (
	// segmentExt ends a segment file's name; the name before it is the
	// segment's base index, zero-padded to 20 digits so names sort as
	// indexes do.
	segmentExt = ".seg"
	// tmpExt ends a file being created; recovery removes such files, as a
	// crash left them before they were renamed into place.
	tmpExt = ".tmp"
	// firstIndexFile holds the log's logical first index (meta.go).
	firstIndexFile = "first-index"
	// lockFile is flocked while the store is open.
	lockFile = "LOCK"

	// segmentHeaderSize is the size of a segment's header:
	//	8 bytes magic, u64 base index, u32 CRC32C of the 16 bytes before, u32 zero
	segmentHeaderSize = 24
	segmentMagic      = "WRNSEG01"
)

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

// parseSegmentName returns the base index a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(s) != 20 {
		return 0, false
	}
	base, err := strconv.ParseUint(s, 10, 64)
	return base, err == nil && base > 0
}

func segmentHeader(base uint64) []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint64(h[8:], base)
	binary.LittleEndian.PutUint32(h[16:], crc(h[:16]))
	return h
}

// checkSegmentHeader checks the header at the start of b against the
// base index the file's name carries.
func checkSegmentHeader(b []byte, base uint64) error {
	if len(b) < segmentHeaderSize {
		return fmt.Errorf("%d bytes, shorter than a segment header", len(b))
	}
	if string(b[:8]) != segmentMagic {
		return fmt.Errorf("no segment header (magic %q)", b[:8])
	}
	if crc(b[:16]) != binary.LittleEndian.Uint32(b[16:]) {
		return errors.New("segment header CRC mismatch")
	}
	if got := binary.LittleEndian.Uint64(b[8:]); got != base {
		return fmt.Errorf("header says base index %d, the name %d", got, base)
	}
	return nil
}

// createFile writes a new file at dir/name holding b, durably: it is
// written to a temporary name and fsynced, renamed into place, and the
// directory fsynced, so after a crash the name either does not exist or
// holds all of b — never a partial header, which recovery could not tell
// from damage. An existing file of that name is replaced. The file is
// returned open for reading and writing.
func createFile(dir, name string, b []byte) (*os.File, error) {
	path := filepath.Join(dir, name)
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(b); err == nil {
		err = fsync.Data(f)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = fsync.Dir(dir)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return f, nil
}

// lockDir takes an exclusive flock on dir's lock file, failing at once if
// another process (or another open Store) holds it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%w: lock %s: %w", ErrLocked, path, err)
	}
	return f, nil
}
