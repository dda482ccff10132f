// Package segmentlog is a raft.LogStore (and raft.MonotonicLogStore) on
// append-only segment files in one directory: the Raft log of a group on
// the segment store (cluster/raftgroup, --log-store segment).
//
// Entries are records framed with their length and a CRC32C of the whole
// encoded raft.Log. A StoreLogs writes its records with one write call to
// the last segment and returns after one fdatasync; a segment that grows
// past Options.SegmentBytes (8 MiB) is sealed, fsynced, and the next one
// created (durably: temporary name, fsync, rename, directory fsync).
// An in-memory index of 4 bytes per entry locates each record, and GetLog
// reads it with one pread and checks its CRC. DeleteRange takes a head
// (compaction: the first index is recorded in a small first-index file,
// replaced atomically, and segments wholly below it are removed) or a tail
// (a conflicting suffix: later segments are removed, newest first, and the
// segment holding the first deleted entry is truncated and fsynced).
//
// Open recovers: the torn tail of the last write, which never returned,
// is cut off; any other damage is an error wrapping ErrCorrupt that names
// the file and offset. DESIGN.md says why each rule holds.
package segmentlog
