// Package bodystore keeps the message bodies of one queue group on disk,
// so that a backlog is bounded by the disk rather than by memory: the
// group's state holds, per message, a reference (fsmpb.BodyRef: the Raft
// index of the entry that carried the body and its position in it) and the
// store maps that key to the body's place in an append-only segment file.
//
// Writes need no fsync of their own: the Raft log holds every body up to
// the commit, and a restart re-applies the entries after the last snapshot
// (Put is idempotent). Sync makes everything written so far durable and
// records how far that is, so that a reopen trusts the synced prefix and
// checks the rest record by record, truncating at the first damaged one.
// DeleteUnpinned deletes the segments none of whose bodies the state still
// references, and Compact copies the few live bodies of sparse segments
// into the segment being written, so those go too. See DESIGN.md.
package bodystore
