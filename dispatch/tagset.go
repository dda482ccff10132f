package dispatch

// tagSet holds a consumer's outstanding delivery tags. Tags arrive in
// increasing order, so an append-only slice keeps them sorted; removal is
// lazy (a map says what is still live) and the slice is compacted when most
// of it is dead.
type tagSet struct {
	live  map[uint64]struct{}
	order []uint64
}

func (s *tagSet) add(tag uint64) {
	if s.live == nil {
		s.live = map[uint64]struct{}{}
	}
	s.live[tag] = struct{}{}
	s.order = append(s.order, tag)
}

func (s *tagSet) len() int { return len(s.live) }

func (s *tagSet) remove(tag uint64) bool {
	if _, ok := s.live[tag]; !ok {
		return false
	}
	delete(s.live, tag)
	s.compact()
	return true
}

// removeUpTo removes and returns every live tag ≤ max (all when max is 0),
// in increasing order.
func (s *tagSet) removeUpTo(max uint64) []uint64 {
	var out []uint64
	i := 0
	for ; i < len(s.order); i++ {
		t := s.order[i]
		if max != 0 && t > max {
			break
		}
		if _, ok := s.live[t]; ok {
			delete(s.live, t)
			out = append(out, t)
		}
	}
	s.order = s.order[i:]
	s.compact()
	return out
}

func (s *tagSet) compact() {
	if len(s.order) < 64 || len(s.live)*2 > len(s.order) {
		return
	}
	kept := s.order[:0]
	for _, t := range s.order {
		if _, ok := s.live[t]; ok {
			kept = append(kept, t)
		}
	}
	s.order = kept
}
