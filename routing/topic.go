package routing

import (
	"slices"
	"strings"
)

// Topic patterns are stored in a trie with one edge per word. "*" and "#"
// get dedicated edges rather than living in the literal map, so matching
// one routing-key word costs at most three child lookups per node: the
// literal word, "*" and "#". DESIGN.md has the full argument.
const (
	starWord = "*"
	hashWord = "#"
)

// topicNode is one pattern prefix. The path from the root spells the
// prefix, so two bindings with the same key share every node.
type topicNode struct {
	parent  *topicNode
	word    string // edge label from parent, to unlink the node when pruning
	literal map[string]*topicNode
	star    *topicNode
	hash    *topicNode
	isHash  bool
	// hashes counts the "#" edges from the root to this node. Below two
	// there is exactly one way to align the prefix with a routing-key
	// prefix, so the walk cannot reach the node twice at one position
	// and needs no memo; see topicWalk.
	hashes int
	queues queueSet // bindings whose whole pattern is this prefix
}

// childFor returns the child along word, or nil.
func (n *topicNode) childFor(word string) *topicNode {
	switch word {
	case starWord:
		return n.star
	case hashWord:
		return n.hash
	}
	return n.literal[word]
}

// addChild creates the child along word; the caller knows it is absent.
func (n *topicNode) addChild(word string) *topicNode {
	c := &topicNode{parent: n, word: word, hashes: n.hashes}
	switch word {
	case starWord:
		n.star = c
	case hashWord:
		c.isHash = true
		c.hashes++
		n.hash = c
	default:
		if n.literal == nil {
			n.literal = make(map[string]*topicNode)
		}
		n.literal[word] = c
	}
	return c
}

// removeChild unlinks the child along word.
func (n *topicNode) removeChild(word string) {
	switch word {
	case starWord:
		n.star = nil
	case hashWord:
		n.hash = nil
	default:
		delete(n.literal, word)
		if len(n.literal) == 0 {
			n.literal = nil
		}
	}
}

// idle reports whether the node carries neither bindings nor children, so
// pruning can drop it.
func (n *topicNode) idle() bool {
	return n.queues.empty() && n.star == nil && n.hash == nil && len(n.literal) == 0
}

// splitTopicKey splits a key into words as RabbitMQ does: on every ".",
// keeping empty words ("a..b" has three words, "a." two), except that the
// empty key has no words at all. That exception is why "*" does not match
// the empty routing key while "#" and "" do.
func splitTopicKey(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// topicRouter matches routing keys against topic patterns held in a trie.
type topicRouter struct {
	root topicNode
}

func (r *topicRouter) add(_ bindingID, b Binding) {
	n := &r.root
	for _, w := range splitTopicKey(b.Key) {
		c := n.childFor(w)
		if c == nil {
			c = n.addChild(w)
		}
		n = c
	}
	n.queues.add(b.Queue)
}

// remove drops the binding and prunes the nodes it alone kept alive, so
// the trie never outgrows the live bindings.
func (r *topicRouter) remove(_ bindingID, b Binding) {
	n := &r.root
	for _, w := range splitTopicKey(b.Key) {
		n = n.childFor(w)
	}
	n.queues.remove(b.Queue)
	for n != &r.root && n.idle() {
		n.parent.removeChild(n.word)
		n = n.parent
	}
}

func (r *topicRouter) route(routingKey string, _ map[string]Value, dst []string) []string {
	start := len(dst)
	w := topicWalk{key: routingKey, end: len(routingKey) + 1, dst: dst}
	pos := 0
	if routingKey == "" {
		pos = w.end // the empty key has no words
	}
	w.visit(&r.root, pos)
	dst = w.dst
	if w.hits > 1 {
		// Several patterns matched; their queue sets may overlap.
		slices.Sort(dst[start:])
		dst = dst[:start+len(slices.Compact(dst[start:]))]
	}
	return dst
}

// topicWalk is the state of one Route call. It lives on the caller's stack,
// never in the Table, so concurrent Route calls share nothing mutable.
//
// Positions are byte offsets into key where the next word starts; end
// (len(key)+1) means no word is left. Walking offsets instead of a split
// slice keeps Route free of allocations.
type topicWalk struct {
	key  string
	end  int
	dst  []string
	hits int // queue sets appended; with at most one, dst needs no sort
	// seen memoizes (node, position) pairs for nodes below two or more
	// "#": there, several alignments of "#" reach the same state, and
	// without the memo patterns like "#.#.#.#.x" take exponential time.
	// Allocated on first need, so common patterns route without it.
	seen map[topicState]struct{}
}

type topicState struct {
	n   *topicNode
	pos int
}

// word returns the word starting at pos and the position after it.
func (w *topicWalk) word(pos int) (string, int) {
	rest := w.key[pos:]
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		return rest[:i], pos + i + 1
	}
	return rest, w.end
}

// visit matches the words from pos onwards against the patterns below n.
func (w *topicWalk) visit(n *topicNode, pos int) {
	// A "#" node loops here instead of recursing per swallowed word, so
	// stack depth stays bounded by pattern length, not routing-key length.
	for {
		if n.hashes >= 2 {
			st := topicState{n, pos}
			if _, ok := w.seen[st]; ok {
				// An earlier visit handled this state, and for a "#"
				// node every later position too, as it loops to the end.
				return
			}
			if w.seen == nil {
				w.seen = make(map[topicState]struct{})
			}
			w.seen[st] = struct{}{}
		}
		if pos == w.end {
			if !n.queues.empty() {
				w.dst = append(w.dst, n.queues.sorted...)
				w.hits++
			}
			if n.hash != nil {
				w.visit(n.hash, pos) // "#" matching zero words
			}
			return
		}
		word, next := w.word(pos)
		if c := n.literal[word]; c != nil {
			w.visit(c, next)
		}
		if n.star != nil {
			w.visit(n.star, next)
		}
		if n.hash != nil {
			w.visit(n.hash, pos)
		}
		if !n.isHash {
			return
		}
		pos = next // "#" swallows this word and tries the rest again
	}
}
