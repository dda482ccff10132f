package segmentlog

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// A record is one raft.Log in a segment file:
//
//	frame header (frameHeaderSize bytes)
//	  u32 payload length
//	  u32 CRC32C of the payload
//	  u32 CRC32C of the 8 bytes above
//	payload
//	  u64 index, u64 term
//	  u32 lead: how many records of the same StoreLogs call come before this one
//	  u8  type, u8 flags (flagAppendedAt)
//	  i64 AppendedAt seconds, u32 AppendedAt nanoseconds (zero when unset)
//	  u32 len(Data), Data
//	  u32 len(Extensions), Extensions
//
// Integers are little-endian. The header's own CRC lets recovery reject a
// candidate frame at any offset after reading 12 bytes, so the search for
// valid records past a damaged one (recover.go) costs linear time rather
// than a CRC over a garbage length at every byte. lead tells recovery which
// StoreLogs call a record came from: only the last call can be unsynced.
const (
	frameHeaderSize = 12
	payloadFixed    = 8 + 8 + 4 + 1 + 1 + 8 + 4 + 4 + 4
	// MaxEntryBytes bounds one encoded entry (Data and Extensions and the
	// fixed fields), so a damaged length can never ask for more, and
	// offsets within a segment fit in 32 bits.
	MaxEntryBytes = 1 << 30

	flagAppendedAt = 1 << 0
)

// castagnoli is the CRC32C table; the hash/crc32 package uses the CPU's
// instruction for it where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recordSize is the encoded size of l, frame header included.
func recordSize(l *raft.Log) int {
	return frameHeaderSize + payloadFixed + len(l.Data) + len(l.Extensions)
}

// appendRecord appends the encoded record of l, the lead-th entry of its
// StoreLogs call, to buf.
func appendRecord(buf []byte, l *raft.Log, lead uint32) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	p := len(buf)
	buf = binary.LittleEndian.AppendUint64(buf, l.Index)
	buf = binary.LittleEndian.AppendUint64(buf, l.Term)
	buf = binary.LittleEndian.AppendUint32(buf, lead)
	var flags byte
	var sec int64
	var nsec uint32
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
		sec, nsec = l.AppendedAt.Unix(), uint32(l.AppendedAt.Nanosecond())
	}
	buf = append(buf, byte(l.Type), flags)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(sec))
	buf = binary.LittleEndian.AppendUint32(buf, nsec)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(l.Extensions)))
	buf = append(buf, l.Extensions...)
	h := buf[start:p]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(buf)-p))
	binary.LittleEndian.PutUint32(h[4:], crc(buf[p:]))
	binary.LittleEndian.PutUint32(h[8:], crc(h[:8]))
	return buf
}

// frameLen checks the frame header at the start of b and returns the
// length of the payload that follows it; ok is false when b is too short
// for a header, the header's CRC does not match or the length is out of
// range. It does not look at the payload.
func frameLen(b []byte) (n int, ok bool) {
	if len(b) < frameHeaderSize {
		return 0, false
	}
	if crc(b[:8]) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, false
	}
	n = int(binary.LittleEndian.Uint32(b[0:]))
	if n < payloadFixed || n > MaxEntryBytes {
		return 0, false
	}
	return n, true
}

// parsed is a record that passed its checks.
type parsed struct {
	index, term uint64
	lead        uint32
	size        int // frame header and payload
}

// parseRecord checks the record at the start of b (header CRC, length
// within b, payload CRC, lengths of Data and Extensions adding up) and
// returns its position fields. ok is false for anything else; it never
// panics, whatever b holds.
func parseRecord(b []byte) (r parsed, ok bool) {
	n, ok := frameLen(b)
	if !ok || len(b)-frameHeaderSize < n {
		return parsed{}, false
	}
	p := b[frameHeaderSize : frameHeaderSize+n]
	if crc(p) != binary.LittleEndian.Uint32(b[4:]) {
		return parsed{}, false
	}
	if _, ok := decodePayload(p, nil); !ok {
		return parsed{}, false
	}
	return parsed{
		index: binary.LittleEndian.Uint64(p[0:]),
		term:  binary.LittleEndian.Uint64(p[8:]),
		lead:  binary.LittleEndian.Uint32(p[16:]),
		size:  frameHeaderSize + n,
	}, true
}

// decodePayload decodes a payload whose CRC has been checked into out
// (when out is not nil); Data and Extensions alias p. ok is false when the
// lengths inside do not add up to len(p).
func decodePayload(p []byte, out *raft.Log) (lead uint32, ok bool) {
	if len(p) < payloadFixed {
		return 0, false
	}
	const fixedHead = 8 + 8 + 4 + 1 + 1 + 8 + 4
	rest := p[fixedHead:]
	dataLen := uint64(binary.LittleEndian.Uint32(rest))
	if dataLen > uint64(len(rest)-8) {
		return 0, false
	}
	data := rest[4 : 4+dataLen]
	rest = rest[4+dataLen:]
	extLen := uint64(binary.LittleEndian.Uint32(rest))
	if extLen != uint64(len(rest)-4) {
		return 0, false
	}
	ext := rest[4:]
	lead = binary.LittleEndian.Uint32(p[16:])
	if out == nil {
		return lead, true
	}
	out.Index = binary.LittleEndian.Uint64(p[0:])
	out.Term = binary.LittleEndian.Uint64(p[8:])
	out.Type = raft.LogType(p[20])
	out.AppendedAt = time.Time{}
	if p[21]&flagAppendedAt != 0 {
		out.AppendedAt = time.Unix(int64(binary.LittleEndian.Uint64(p[22:])), int64(binary.LittleEndian.Uint32(p[30:])))
	}
	// nil rather than empty, as raft-boltdb's msgpack decoding gives.
	out.Data, out.Extensions = nil, nil
	if len(data) > 0 {
		out.Data = data
	}
	if len(ext) > 0 {
		out.Extensions = ext
	}
	return lead, true
}
