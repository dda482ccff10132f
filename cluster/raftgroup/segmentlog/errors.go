package segmentlog

import "errors"

// ErrCorrupt is wrapped by Open when a file holds damage that is not the
// torn tail of the last write: a bad record followed by records of a later
// write, a bad record in a sealed segment, a missing segment between two
// others, a damaged segment header or first-index file. The error names
// the file and the offset. Nothing is skipped or repaired: the operator
// decides (typically: remove the node's data directory and let it catch up
// from the leader).
var ErrCorrupt = errors.New("segmentlog: corrupt log")

// ErrLocked is wrapped by Open when another Store (in this process or
// another) holds the directory.
var ErrLocked = errors.New("segmentlog: directory in use")

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("segmentlog: store closed")

// ErrNotContiguous is returned by StoreLogs for entries that do not
// continue the log: an index at or below LastIndex (raft deletes a
// conflicting tail with DeleteRange before it appends), or a batch whose
// indexes do not rise by one.
var ErrNotContiguous = errors.New("segmentlog: entries not contiguous with the log")

// ErrMiddleRange is returned by DeleteRange for a range that leaves entries
// on both sides: raft deletes only a head (compaction) or a tail (a
// conflicting suffix), and a hole would break the index.
var ErrMiddleRange = errors.New("segmentlog: DeleteRange of a middle range")
