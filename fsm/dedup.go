package fsm

import (
	"container/heap"
	"slices"
	"strings"
)

// Publish deduplication (ARCHITECTURE §5, §9): every publish carries a
// producer id and a sequence number, and a retry after an indeterminate
// failure reuses them. The queue group remembers, per producer, a bounded
// window of the sequences it enqueued, so a retried publish is answered
// EnqueueDuplicate instead of being enqueued twice. Memory is about 600 bytes
// per producer (the bitmap is 512), so about 6 MB at the producer limit.

// DedupWindow is how many sequences a producer's window covers: those in
// (highest-DedupWindow, highest], where highest is the largest sequence seen
// from that producer. Inside the window each sequence is remembered
// individually (a bitmap), so publishes that commit out of order — up to
// DedupWindow publishes in flight per producer — are each accepted once. A
// sequence older than the window is treated as a duplicate: its publisher
// has long had its answer.
const DedupWindow = 4096

// DedupMaxProducers is how many producers the deduplication table keeps.
// Adding one more evicts the least recently used: the producer whose last
// publish has the lowest Raft index, ties broken by the smaller producer id,
// so every replica evicts the same one. An evicted producer that retries an
// old publish is no longer deduplicated.
const DedupMaxProducers = 10000

const dedupWords = DedupWindow / 64

// dedupProducer is one producer's window: bit (seq % DedupWindow) is set when
// seq, within (hi-DedupWindow, hi], was enqueued.
type dedupProducer struct {
	id        string
	hi        uint64 // highest sequence seen; 0: none yet
	lastIndex uint64 // Raft index of the last publish seen from this producer
	bits      [dedupWords]uint64
	heapPos   int // position in dedupTable.lru
}

func (p *dedupProducer) bit(seq uint64) (word int, mask uint64) {
	pos := seq % DedupWindow
	return int(pos / 64), 1 << (pos % 64)
}

// seen reports whether seq counts as already enqueued.
func (p *dedupProducer) seen(seq uint64) bool {
	if seq > p.hi {
		return false
	}
	if p.hi-seq >= DedupWindow {
		return true // older than the window
	}
	w, m := p.bit(seq)
	return p.bits[w]&m != 0
}

// mark records seq, sliding the window forward when seq is the new highest.
func (p *dedupProducer) mark(seq uint64) {
	if seq > p.hi {
		if seq-p.hi >= DedupWindow {
			p.bits = [dedupWords]uint64{}
		} else {
			// Clear the positions of the sequences the window slides over:
			// they now stand for hi+1..seq, none of which is seen yet.
			// (Counting by distance, not by s <= seq, so seq = MaxUint64 ends.)
			for d := uint64(1); d <= seq-p.hi; d++ {
				w, m := p.bit(p.hi + d)
				p.bits[w] &^= m
			}
		}
		p.hi = seq
	}
	if p.hi-seq < DedupWindow {
		w, m := p.bit(seq)
		p.bits[w] |= m
	}
}

// dedupTable is every producer's window plus a min-heap ordered by
// (lastIndex, id) for deterministic least-recently-used eviction.
type dedupTable struct {
	byID map[string]*dedupProducer
	lru  dedupLRU
}

func newDedupTable() *dedupTable {
	return &dedupTable{byID: make(map[string]*dedupProducer)}
}

// seen reports whether (producer, seq) was already enqueued.
func (t *dedupTable) seen(producer string, seq uint64) bool {
	p := t.byID[producer]
	return p != nil && p.seen(seq)
}

// record marks (producer, seq) as enqueued at Raft index idx, creating the
// producer (and evicting the least recently used one when full).
func (t *dedupTable) record(producer string, seq, idx uint64) {
	p := t.byID[producer]
	if p == nil {
		if len(t.byID) >= DedupMaxProducers {
			old := heap.Pop(&t.lru).(*dedupProducer)
			delete(t.byID, old.id)
		}
		p = &dedupProducer{id: producer, lastIndex: idx}
		t.byID[producer] = p
		heap.Push(&t.lru, p)
	} else if idx > p.lastIndex {
		p.lastIndex = idx
		heap.Fix(&t.lru, p.heapPos)
	}
	p.mark(seq)
}

// insert adds a restored producer; the caller guarantees a new id.
func (t *dedupTable) insert(p *dedupProducer) {
	t.byID[p.id] = p
	heap.Push(&t.lru, p)
}

// copies returns a copy of each producer, for a snapshot's view, in no
// order (sortProducers puts them in the snapshot's): O(producers), at most
// DedupMaxProducers.
func (t *dedupTable) copies() []dedupProducer {
	out := make([]dedupProducer, 0, len(t.lru))
	for _, p := range t.lru {
		out = append(out, *p)
	}
	return out
}

// sortProducers sorts ps by id, the snapshot order.
func sortProducers(ps []dedupProducer) {
	slices.SortFunc(ps, func(a, b dedupProducer) int { return strings.Compare(a.id, b.id) })
}

// dedupLRU implements heap.Interface over producers, least recently used
// first.
type dedupLRU []*dedupProducer

func (h dedupLRU) Len() int { return len(h) }
func (h dedupLRU) Less(i, j int) bool {
	if h[i].lastIndex != h[j].lastIndex {
		return h[i].lastIndex < h[j].lastIndex
	}
	return h[i].id < h[j].id
}
func (h dedupLRU) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapPos, h[j].heapPos = i, j
}
func (h *dedupLRU) Push(x any) {
	p := x.(*dedupProducer)
	p.heapPos = len(*h)
	*h = append(*h, p)
}
func (h *dedupLRU) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
