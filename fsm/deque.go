package fsm

import "slices"

// deque is a FIFO (push at the back, pop at the front) with indexed reads.
// Small, it is a ring buffer whose capacity is a power of two, at most
// dequeBlock; past that, a list of fixed blocks of dequeBlock elements. Push
// and pop are amortised O(1) and never re-copy the live elements except
// when a small ring grows or shrinks, unlike a slice used as a FIFO
// (s = s[1:] keeps the dead prefix alive; append re-copies). The blocks
// keep a large backlog's slack to at most two partly used blocks, where a
// ring doubled would leave up to half of its capacity (a queue's records
// are most of what a backlog on disk costs), and a growing backlog never
// copies itself whole (a pause under the apply lock).
//
// The zero value is an empty deque ready to use. Not safe for concurrent use.
type deque[T any] struct {
	buf  []T // the ring (no blocks): len(buf) is 0 or a power of two
	head int // index of the first element in buf, or in blocks[0]
	n    int // number of elements
	// blocks, when not nil, hold the elements in order from blocks[0][head];
	// buf is then nil.
	blocks []*[dequeBlock]T
	// Copy on write (share): ringShared says buf is also read by a
	// snapshot's view, so the next write copies it first; sharedBlocks is
	// how many blocks at the front may be read by one (those that existed
	// at the last share), whose popped slots are then left as they are
	// rather than zeroed. A push never writes where a view reads: a view
	// reads the positions it held, and pushes go past the back.
	ringShared   bool
	sharedBlocks int
}

// share returns a read-only copy of d for a snapshot's view, which may be
// read (Len, At) from another goroutine while d goes on changing, and
// marks d so that it never writes what the copy reads. O(blocks): the
// list of blocks is copied, the blocks and the ring are shared.
func (d *deque[T]) share() deque[T] {
	v := deque[T]{buf: d.buf, head: d.head, n: d.n}
	if d.blocks != nil {
		v.blocks = slices.Clone(d.blocks)
		d.sharedBlocks = len(d.blocks)
	} else if d.buf != nil {
		d.ringShared = true
	}
	return v
}

// ownRing copies the ring before a write when a view shares it.
func (d *deque[T]) ownRing() {
	if d.ringShared {
		d.buf, d.ringShared = slices.Clone(d.buf), false
	}
}

// dequeMinCap is the smallest ring allocated; it keeps tiny queues cheap
// without reallocating on every push.
const dequeMinCap = 8

// dequeBlock is the number of elements of a block, and the largest ring. A
// block of 48-byte queue records is 49,152 bytes, exactly 6 pages: a large
// object, which Go allocates in whole pages without a per-object header;
// a small block (≤ 32 KiB) with pointers has an 8-byte header and is
// rounded up to its size class (14,336 bytes of records took 16 KiB).
const dequeBlock = 1024

// Len returns the number of elements.
func (d *deque[T]) Len() int { return d.n }

// At returns the i-th element from the front (0 = front). It panics when i
// is out of range, like a slice index; callers check Len first.
func (d *deque[T]) At(i int) T {
	if i < 0 || i >= d.n {
		panic("deque: index out of range")
	}
	if d.blocks != nil {
		j := d.head + i
		return d.blocks[j/dequeBlock][j%dequeBlock]
	}
	return d.buf[(d.head+i)&(len(d.buf)-1)]
}

// Front returns the first element and true, or the zero value and false
// when empty.
func (d *deque[T]) Front() (T, bool) {
	if d.n == 0 {
		var zero T
		return zero, false
	}
	return d.At(0), true
}

// PushBack appends v at the back.
func (d *deque[T]) PushBack(v T) {
	if d.blocks != nil {
		j := d.head + d.n
		if j == len(d.blocks)*dequeBlock {
			d.blocks = append(d.blocks, new([dequeBlock]T))
		}
		d.blocks[j/dequeBlock][j%dequeBlock] = v
		d.n++
		return
	}
	if d.n == len(d.buf) {
		if d.n == dequeBlock {
			d.toBlocks()
			d.PushBack(v)
			return
		}
		d.resize(max(dequeMinCap, 2*len(d.buf)))
	}
	d.ownRing()
	d.buf[(d.head+d.n)&(len(d.buf)-1)] = v
	d.n++
}

// PopFront removes and returns the first element; false when empty.
func (d *deque[T]) PopFront() (T, bool) {
	var zero T
	if d.n == 0 {
		return zero, false
	}
	if d.blocks != nil {
		b := d.blocks[0]
		v := b[d.head]
		if d.sharedBlocks == 0 {
			b[d.head] = zero // drop references (payload pointers) for the GC
		}
		d.head++
		d.n--
		if d.head == dequeBlock {
			d.blocks[0] = nil
			d.blocks = d.blocks[1:]
			d.head = 0
			d.sharedBlocks = max(d.sharedBlocks-1, 0)
		}
		if d.n <= dequeBlock/4 {
			d.toRing()
		}
		return v, true
	}
	d.ownRing()
	v := d.buf[d.head]
	d.buf[d.head] = zero // drop references (payload pointers) for the GC
	d.head = (d.head + 1) & (len(d.buf) - 1)
	d.n--
	d.maybeShrink()
	return v, true
}

// Clear removes every element and releases the memory.
func (d *deque[T]) Clear() { *d = deque[T]{} }

// maybeShrink halves the ring when it is at most a quarter full, so a queue
// that drained a large backlog gives the memory back. The factor 4 leaves
// hysteresis: a queue oscillating around a size does not resize each time.
func (d *deque[T]) maybeShrink() {
	if len(d.buf) > dequeMinCap && d.n <= len(d.buf)/4 {
		d.resize(len(d.buf) / 2)
	}
}

// resize moves the elements, in order, to a new ring of capacity c (a power
// of two, at least d.n).
func (d *deque[T]) resize(c int) {
	nb := make([]T, c)
	if d.n > 0 {
		if d.head+d.n <= len(d.buf) {
			copy(nb, d.buf[d.head:d.head+d.n])
		} else {
			k := copy(nb, d.buf[d.head:])
			copy(nb[k:], d.buf[:d.n-k])
		}
	}
	d.buf, d.head, d.ringShared = nb, 0, false
}

// toBlocks moves a full ring of dequeBlock elements into a first block.
func (d *deque[T]) toBlocks() {
	b := new([dequeBlock]T)
	k := copy(b[:], d.buf[d.head:])
	copy(b[k:], d.buf[:d.head])
	d.blocks, d.buf, d.head, d.ringShared = []*[dequeBlock]T{b}, nil, 0, false
}

// toRing moves the elements, at most a quarter of a block, back into a
// ring of half a block (hysteresis, as maybeShrink), which shrinks further
// as they go.
func (d *deque[T]) toRing() {
	nb := make([]T, dequeBlock/2)
	for i := range d.n {
		nb[i] = d.At(i)
	}
	d.buf, d.blocks, d.head, d.sharedBlocks = nb, nil, 0, 0
}
