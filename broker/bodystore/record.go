package bodystore

import (
	"encoding/binary"
	"hash/crc32"
)

// A record is one body in a segment file:
//
//	u32 CRC32C of everything after it (the rest of the header and the body)
//	u32 body length
//	u64 Raft index, u32 position   (the key)
//	body
//
// Integers are little-endian. A zeroed or torn header fails the CRC (the
// CRC32C of 16 zero bytes is not zero), so recovery stops there.
const (
	headerSize = 4 + 4 + 8 + 4
	// MaxBodyBytes bounds one body, so a damaged length cannot ask for
	// more; the API's limit on a message is far below it.
	MaxBodyBytes = 1 << 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Key names one body: the Raft index of the entry that carried it and its
// position among that entry's bodies, as every replica computes them.
type Key struct {
	Index    uint64
	Position uint32
}

// appendRecord appends the record of body under k to buf.
func appendRecord(buf []byte, k Key, body []byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(body)))
	buf = binary.LittleEndian.AppendUint64(buf, k.Index)
	buf = binary.LittleEndian.AppendUint32(buf, k.Position)
	buf = append(buf, body...)
	binary.LittleEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], castagnoli))
	return buf
}

// header is a decoded record header.
type header struct {
	crc uint32
	n   uint32
	key Key
}

func parseHeader(b []byte) header {
	return header{
		crc: binary.LittleEndian.Uint32(b[0:]),
		n:   binary.LittleEndian.Uint32(b[4:]),
		key: Key{Index: binary.LittleEndian.Uint64(b[8:]), Position: binary.LittleEndian.Uint32(b[16:])},
	}
}

// valid reports whether rec (a whole record: header and body) is intact.
func valid(rec []byte) bool {
	return len(rec) >= headerSize && crc32.Checksum(rec[4:], castagnoli) == binary.LittleEndian.Uint32(rec)
}
