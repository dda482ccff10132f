package routing

import "slices"

// queueSet is the set of queues reached through one routing slot (a direct
// key, a topic pattern, a fanout exchange). Several bindings can name the
// same queue in one slot when they differ only in their arguments, so each
// queue carries a count and leaves the set with its last binding.
//
// sorted is kept ordered at mutation time so that Route, which runs far
// more often than Bind, can copy it out without sorting.
type queueSet struct {
	counts map[string]int
	sorted []string
}

// add records one more binding to queue.
func (s *queueSet) add(queue string) {
	if s.counts == nil {
		s.counts = make(map[string]int)
	}
	s.counts[queue]++
	if s.counts[queue] > 1 {
		return
	}
	i, _ := slices.BinarySearch(s.sorted, queue)
	s.sorted = slices.Insert(s.sorted, i, queue)
}

// remove forgets one binding to queue; the queue leaves the set with its
// last binding. The caller guarantees the binding was added.
func (s *queueSet) remove(queue string) {
	s.counts[queue]--
	if s.counts[queue] > 0 {
		return
	}
	delete(s.counts, queue)
	if i, ok := slices.BinarySearch(s.sorted, queue); ok {
		s.sorted = slices.Delete(s.sorted, i, i+1)
	}
}

// empty reports whether no binding is left, so the owner can drop the slot
// and keep memory proportional to live bindings.
func (s *queueSet) empty() bool { return len(s.sorted) == 0 }
