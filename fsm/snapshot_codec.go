package fsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// The framing of snapshot streams (STYLE §3): records of the form
//
//	[type byte][uvarint body length][body]
//
// in a defined order, closed by a trailer record
//
//	[0xFF][uvarint 4][CRC-32 (IEEE), big endian, of every byte before the trailer]
//
// and nothing after it. Bodies are a compact hand-written binary encoding
// (uvarints, zig-zag varints, length-prefixed strings and deterministic
// protobuf) built with qsEnc and read back with qsDec.

// qsTrailer is the type byte of the trailer record.
const qsTrailer byte = 0xFF

// qsMaxRecord bounds one record's body, so garbage cannot make a reader
// expect gigabytes. Bodies are limited far below this at the API.
const qsMaxRecord = 64 << 20

// qsReadChunk is how much a reader allocates at a time for a record body:
// memory grows with the bytes actually present, not with a claimed length.
const qsReadChunk = 64 << 10

// errSnapshot is wrapped by every error about a corrupt snapshot.
var errSnapshot = errors.New("corrupt queue group snapshot")

// qsMarshal is the one marshaller of protobuf inside snapshots: map entries
// sorted, so equal states give equal bytes.
var qsMarshal = proto.MarshalOptions{Deterministic: true}

// qsEnc appends the binary encoding of a record body.
type qsEnc struct{ b []byte }

func (e *qsEnc) reset()           { e.b = e.b[:0] }
func (e *qsEnc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *qsEnc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *qsEnc) fixed64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *qsEnc) raw(p []byte)     { e.b = append(e.b, p...) }
func (e *qsEnc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *qsEnc) boolean(v bool) {
	var c byte
	if v {
		c = 1
	}
	e.b = append(e.b, c)
}

func (e *qsEnc) proto(m proto.Message) error {
	n := qsMarshal.Size(m)
	e.uvarint(uint64(n))
	start := len(e.b)
	var err error
	e.b, err = qsMarshal.MarshalAppend(e.b, m)
	if err == nil && len(e.b)-start != n {
		err = fmt.Errorf("marshal %T: size %d, wrote %d", m, n, len(e.b)-start)
	}
	return err
}

// qsDec reads a record body. The first error sticks: later reads return zero
// values, so a decoder can read every field and check err once.
type qsDec struct {
	b   []byte
	err error
}

func (d *qsDec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errSnapshot}, args...)...)
	}
}

func (d *qsDec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *qsDec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *qsDec) fixed64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("short fixed64")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns a length-prefixed byte string, aliasing the record buffer.
func (d *qsDec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *qsDec) str() string { return string(d.bytes()) }

func (d *qsDec) rawN(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("short field")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *qsDec) boolean() bool {
	p := d.rawN(1)
	if d.err != nil {
		return false
	}
	if p[0] > 1 {
		d.fail("bad bool %d", p[0])
	}
	return p[0] == 1
}

func (d *qsDec) proto(m proto.Message) {
	p := d.bytes()
	if d.err != nil {
		return
	}
	if err := proto.Unmarshal(p, m); err != nil {
		d.fail("%T: %v", m, err)
	}
}

// end checks that the body was read exactly and returns the first error.
func (d *qsDec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes in record", len(d.b))
	}
	return d.err
}

// qsWriter writes framed records and the trailer, computing the CRC.
type qsWriter struct {
	w   io.Writer
	bw  *bufio.Writer // nil when w needs no buffering
	crc hash.Hash32
	err error
	hdr []byte
	// fill, if set, gives the payload to write for one the state holds
	// (WriteSnapshotFilled).
	fill func(*fsmpb.Payload) (*fsmpb.Payload, error)
	// inline and inlineRef are where the payload of a message that holds
	// it inline is built, one message at a time (queueMsg.payloadInto):
	// it is written before the next is built.
	inline    fsmpb.Payload
	inlineRef fsmpb.BodyRef
}

// payload is p as the snapshot writes it: filled, when the writer fills.
func (w *qsWriter) payload(p *fsmpb.Payload) (*fsmpb.Payload, error) {
	if w.fill == nil || p == nil {
		return p, nil
	}
	return w.fill(p)
}

// newQsWriter buffers w unless it is an in-memory buffer already.
func newQsWriter(w io.Writer) *qsWriter {
	sw := &qsWriter{w: w, crc: crc32.NewIEEE()}
	if _, mem := w.(*bytes.Buffer); !mem {
		sw.bw = bufio.NewWriterSize(w, 64<<10)
		sw.w = sw.bw
	}
	return sw
}

func (w *qsWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(p)
	w.crc.Write(p)
}

// record writes one record; errors stick and are returned by finish.
func (w *qsWriter) record(t byte, body []byte) {
	if w.err == nil && len(body) > qsMaxRecord {
		w.err = fmt.Errorf("snapshot record of type %d is %d bytes, over the %d limit", t, len(body), qsMaxRecord)
	}
	w.hdr = binary.AppendUvarint(append(w.hdr[:0], t), uint64(len(body)))
	w.write(w.hdr)
	w.write(body)
}

// finish writes the trailer and flushes.
func (w *qsWriter) finish() error {
	if w.err != nil {
		return w.err
	}
	sum := w.crc.Sum32()
	tr := binary.BigEndian.AppendUint32([]byte{qsTrailer, 4}, sum)
	if _, err := w.w.Write(tr); err != nil {
		return err
	}
	if w.bw != nil {
		return w.bw.Flush()
	}
	return nil
}

// qsReader reads framed records, checking the CRC at the trailer.
type qsReader struct {
	br  qsByteReader
	crc hash.Hash32
	buf []byte
	one [1]byte
}

// qsByteReader is what the reader needs of its source.
type qsByteReader interface {
	io.Reader
	io.ByteReader
}

// newQsReader buffers r unless it can already read bytes one at a time
// cheaply (bytes.Reader, bufio.Reader).
func newQsReader(r io.Reader) *qsReader {
	br, ok := r.(qsByteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &qsReader{br: br, crc: crc32.NewIEEE()}
}

// ReadByte reads one hashed byte (for binary.ReadUvarint).
func (r *qsReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err == nil {
		r.hashByte(c)
	}
	return c, err
}

func (r *qsReader) hashByte(c byte) {
	r.one[0] = c
	r.crc.Write(r.one[:])
}

// next returns the next record's type and body (valid until the next call).
// At the trailer it verifies the CRC and the end of the stream, and returns
// type qsTrailer.
func (r *qsReader) next() (byte, []byte, error) {
	t, err := r.br.ReadByte() // not hashed yet: the trailer is not covered
	if err != nil {
		return 0, nil, fmt.Errorf("%w: missing trailer: %v", errSnapshot, qsNoEOF(err))
	}
	if t == qsTrailer {
		return t, nil, r.trailer()
	}
	r.hashByte(t)
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: record length: %v", errSnapshot, qsNoEOF(err))
	}
	if n > qsMaxRecord {
		return 0, nil, fmt.Errorf("%w: record of type %d claims %d bytes", errSnapshot, t, n)
	}
	r.buf = r.buf[:0]
	for left := int(n); left > 0; {
		c := min(left, qsReadChunk)
		r.buf = slices.Grow(r.buf, c)
		p := r.buf[len(r.buf) : len(r.buf)+c]
		if _, err := io.ReadFull(r.br, p); err != nil {
			return 0, nil, fmt.Errorf("%w: record of type %d: %v", errSnapshot, t, qsNoEOF(err))
		}
		r.crc.Write(p)
		r.buf = r.buf[:len(r.buf)+c]
		left -= c
	}
	return t, r.buf, nil
}

func (r *qsReader) trailer() error {
	want := r.crc.Sum32()
	var tr [5]byte
	if _, err := io.ReadFull(r.br, tr[:]); err != nil {
		return fmt.Errorf("%w: trailer: %v", errSnapshot, qsNoEOF(err))
	}
	if tr[0] != 4 {
		return fmt.Errorf("%w: trailer length %d", errSnapshot, tr[0])
	}
	if got := binary.BigEndian.Uint32(tr[1:]); got != want {
		return fmt.Errorf("%w: CRC %08x, computed %08x", errSnapshot, got, want)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: data after the trailer", errSnapshot)
	}
	return nil
}

// qsNoEOF turns a premature io.EOF into io.ErrUnexpectedEOF.
func qsNoEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
