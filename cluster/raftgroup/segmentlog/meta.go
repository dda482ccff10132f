package segmentlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The first-index file records the log's logical first index: entries
// below it are deleted even while a segment still holds them (a head
// truncation inside a segment, or a crash before the segments wholly below
// it were removed). It is
//
//	4 bytes magic, u64 first index, u32 CRC32C of the 12 bytes before
//
// and is only ever replaced whole (createFile: temporary file, fsync,
// rename, directory fsync), so it is either the old value or the new.
const (
	firstIndexMagic = "WRF1"
	firstIndexSize  = 16
)

// readFirstIndex returns the first index recorded in dir, or 0 when there
// is no first-index file (nothing was ever deleted from the head).
func readFirstIndex(dir string) (uint64, error) {
	path := filepath.Join(dir, firstIndexFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != firstIndexSize || string(b[:4]) != firstIndexMagic || crc(b[:12]) != binary.LittleEndian.Uint32(b[12:]) {
		// Written whole by rename: damage here is not a torn write.
		return 0, fmt.Errorf("%w: %s: not a first-index file (%d bytes)", ErrCorrupt, path, len(b))
	}
	return binary.LittleEndian.Uint64(b[4:]), nil
}

// writeFirstIndex durably records first as dir's first index.
func writeFirstIndex(dir string, first uint64) error {
	b := make([]byte, firstIndexSize)
	copy(b, firstIndexMagic)
	binary.LittleEndian.PutUint64(b[4:], first)
	binary.LittleEndian.PutUint32(b[12:], crc(b[:12]))
	f, err := createFile(dir, firstIndexFile, b)
	if err != nil {
		return err
	}
	return f.Close()
}
