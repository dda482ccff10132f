package fsm

// deque is a double-ended queue on a ring buffer whose capacity is a power of
// two. Push and pop at either end are amortised O(1) and never re-copy the
// live elements except when the ring grows or shrinks, unlike a slice used as
// a FIFO (s = s[1:] keeps the dead prefix alive; append re-copies).
//
// The zero value is an empty deque ready to use. Not safe for concurrent use.
type deque[T any] struct {
	buf  []T // len(buf) is 0 or a power of two
	head int // index of the first element in buf
	n    int // number of elements
}

// dequeMinCap is the smallest ring allocated; it keeps tiny queues cheap
// without reallocating on every push.
const dequeMinCap = 8

// Len returns the number of elements.
func (d *deque[T]) Len() int { return d.n }

// At returns the i-th element from the front (0 = front). It panics when i
// is out of range, like a slice index; callers check Len first.
func (d *deque[T]) At(i int) T {
	if i < 0 || i >= d.n {
		panic("deque: index out of range")
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
	return d.buf[d.head], true
}

// PushBack appends v at the back.
func (d *deque[T]) PushBack(v T) {
	if d.n == len(d.buf) {
		d.resize(max(dequeMinCap, 2*len(d.buf)))
	}
	d.buf[(d.head+d.n)&(len(d.buf)-1)] = v
	d.n++
}

// PopFront removes and returns the first element; false when empty.
func (d *deque[T]) PopFront() (T, bool) {
	var zero T
	if d.n == 0 {
		return zero, false
	}
	v := d.buf[d.head]
	d.buf[d.head] = zero // drop references (payload pointers) for the GC
	d.head = (d.head + 1) & (len(d.buf) - 1)
	d.n--
	d.maybeShrink()
	return v, true
}

// Clear removes every element and releases the ring.
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
	d.buf, d.head = nb, 0
}
