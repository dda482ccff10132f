package fsm

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// metaSnapshotMagic starts a meta snapshot; the last byte is the format
// version.
var metaSnapshotMagic = [4]byte{'W', 'M', 'S', 1}

// maxMetaSnapshot bounds what RestoreMeta will allocate for garbage input.
const maxMetaSnapshot = 1 << 30

// WriteSnapshot writes the whole meta state: magic, uvarint length, a
// deterministic MetaSnapshot proto with sorted lists, then a big-endian
// CRC32 (IEEE) of everything before it. Equal states give equal bytes.
func (m *Meta) WriteSnapshot(w io.Writer) error {
	snap := &fsmpb.MetaSnapshot{Version: 1, LastIndex: m.lastIndex}
	for _, ex := range m.Exchanges() {
		if ex.Builtin {
			continue
		}
		snap.Exchanges = append(snap.Exchanges, &fsmpb.MetaExchangeRecord{
			Vhost: recordVHost(ex.VHost), Name: ex.Name, Kind: ex.KindName(), AutoDelete: ex.AutoDelete, Internal: ex.Internal, Arguments: ex.Args,
		})
	}
	for _, q := range m.Queues() {
		snap.Queues = append(snap.Queues, &fsmpb.MetaQueueRecord{
			Vhost: recordVHost(q.VHost), Id: q.ID, Name: q.Name, Group: q.Group, Exclusive: q.Exclusive, AutoDelete: q.AutoDelete,
			OwnerSession: q.OwnerSession, Arguments: q.Args, ArgsLevel: q.ArgsLevel, DeadLetterStrategy: q.Spec.GetDeadLetterStrategy(),
		})
	}
	for _, b := range m.Bindings("", "", "") {
		snap.Bindings = append(snap.Bindings, &fsmpb.MetaBindingRecord{
			Vhost: recordVHost(b.VHost), Exchange: b.Exchange, Queue: b.Queue, Key: b.Key, Arguments: b.Args, DestinationKind: destinationKind(b.ToExchange),
		})
	}
	snap.Access = m.access.record()
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return err
	}
	buf := append([]byte{}, metaSnapshotMagic[:]...)
	buf = binary.AppendUvarint(buf, uint64(len(body)))
	buf = append(buf, body...)
	buf = binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
	_, err = w.Write(buf)
	return err
}

// RestoreMeta decodes a snapshot written by WriteSnapshot into a fresh
// state spreading new queues over groups queue groups. Any defect is an
// error wrapping ErrBadSnapshot; it never panics. The indexes of Meta
// (owner sessions, bindings by queue) are rebuilt from the records: the
// snapshot holds none. Names are not checked against the limits of
// limits.go: a snapshot holds what its log accepted.
func RestoreMeta(r io.Reader, groups int) (*Meta, error) {
	br := bufio.NewReader(r)
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || magic != metaSnapshotMagic {
		return nil, fmt.Errorf("%w: not a meta snapshot", ErrBadSnapshot)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxMetaSnapshot {
		return nil, fmt.Errorf("%w: bad length", ErrBadSnapshot)
	}
	body := make([]byte, 0, min(n, 1<<20))
	body, err = readN(br, body, n)
	if err != nil {
		return nil, fmt.Errorf("%w: truncated: %v", ErrBadSnapshot, err)
	}
	var crc [4]byte
	if _, err := io.ReadFull(br, crc[:]); err != nil {
		return nil, fmt.Errorf("%w: no checksum", ErrBadSnapshot)
	}
	head := binary.AppendUvarint(append([]byte{}, metaSnapshotMagic[:]...), n)
	sum := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, body)
	if sum != binary.BigEndian.Uint32(crc[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	snap := &fsmpb.MetaSnapshot{}
	if err := proto.Unmarshal(body, snap); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return metaFromSnapshot(snap, groups)
}

func readN(r io.Reader, buf []byte, n uint64) ([]byte, error) {
	var chunk [32 << 10]byte
	for uint64(len(buf)) < n {
		want := min(n-uint64(len(buf)), uint64(len(chunk)))
		got, err := io.ReadFull(r, chunk[:want])
		buf = append(buf, chunk[:got]...)
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func metaFromSnapshot(snap *fsmpb.MetaSnapshot, groups int) (*Meta, error) {
	if snap.GetVersion() != 1 {
		return nil, fmt.Errorf("%w: meta snapshot version %d", ErrBadSnapshot, snap.GetVersion())
	}
	m := NewMeta(groups)
	m.lastIndex = snap.GetLastIndex()
	// Virtual hosts first: objects refer to them.
	if err := m.access.restore(snap.GetAccess()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	for _, v := range m.VHosts() {
		if v != DefaultVHost {
			m.addBuiltins(v)
		}
	}
	for _, e := range snap.GetExchanges() {
		kind, delayed, err := ParseExchangeKind(e.GetKind(), e.GetArguments())
		if err != nil {
			return nil, fmt.Errorf("%w: exchange %q: %v", ErrBadSnapshot, e.GetName(), err)
		}
		vhost := vhostName(e.GetVhost())
		if _, ok := m.access.vhosts[vhost]; !ok {
			return nil, fmt.Errorf("%w: exchange %q in unknown virtual host %q", ErrBadSnapshot, e.GetName(), vhost)
		}
		if _, dup := m.exchanges[objectKey(vhost, e.GetName())]; dup {
			return nil, fmt.Errorf("%w: exchange %q twice", ErrBadSnapshot, e.GetName())
		}
		m.addExchange(newExchange(ExchangeDef{
			VHost: vhost, Name: e.GetName(), Kind: kind, AutoDelete: e.GetAutoDelete(), Internal: e.GetInternal(), Args: cloneArgs(e.GetArguments()), Delayed: delayed,
		}))
	}
	for _, rec := range snap.GetQueues() {
		vhost := vhostName(rec.GetVhost())
		if _, ok := m.access.vhosts[vhost]; !ok {
			return nil, fmt.Errorf("%w: queue %q in unknown virtual host %q", ErrBadSnapshot, rec.GetName(), vhost)
		}
		if _, dup := m.queues[objectKey(vhost, rec.GetName())]; dup || rec.GetName() == "" {
			return nil, fmt.Errorf("%w: queue %q twice or unnamed", ErrBadSnapshot, rec.GetName())
		}
		spec, err := QueueSpecFromArgs(rec.GetId(), rec.GetName(), rec.GetArguments(), rec.GetArgsLevel())
		if err != nil {
			return nil, fmt.Errorf("%w: queue %q: %v", ErrBadSnapshot, rec.GetName(), err)
		}
		spec.Vhost = recordVHost(vhost)
		spec.DeadLetterStrategy = rec.GetDeadLetterStrategy()
		q := &QueueDef{
			ID: rec.GetId(), VHost: vhost, Name: rec.GetName(), Group: rec.GetGroup(), Exclusive: rec.GetExclusive(),
			AutoDelete: rec.GetAutoDelete(), OwnerSession: rec.GetOwnerSession(), Args: cloneArgs(rec.GetArguments()), Spec: spec,
			ArgsLevel: rec.GetArgsLevel(),
		}
		m.addQueue(q)
	}
	// Bindings go in through bind, which keeps the binding index but does
	// not check the limits: a snapshot holds what its log accepted.
	for _, b := range snap.GetBindings() {
		res := m.bind(&fsmpb.Bind{
			Vhost: b.GetVhost(), Exchange: b.GetExchange(), Queue: b.GetQueue(), Key: b.GetKey(), Arguments: b.GetArguments(), DestinationKind: b.GetDestinationKind(),
		})
		if res.Err != nil {
			return nil, fmt.Errorf("%w: binding: %v", ErrBadSnapshot, res.Err)
		}
	}
	return m, nil
}

// recordVHost is a vhost as records hold it: "" for the default, so that
// the records of the default vhost are as they were before vhosts.
func recordVHost(v string) string {
	if v == DefaultVHost {
		return ""
	}
	return v
}

// destinationKind is the record of a binding's destination kind.
func destinationKind(toExchange bool) fsmpb.DestinationKind {
	if toExchange {
		return fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	}
	return fsmpb.DestinationKind_DESTINATION_KIND_QUEUE
}
