package routing

// directRouter routes on exact equality of binding key and routing key, so
// one map lookup finds every candidate queue.
type directRouter struct {
	keys map[string]*queueSet
}

func newDirectRouter() *directRouter {
	return &directRouter{keys: make(map[string]*queueSet)}
}

func (r *directRouter) add(_ bindingID, b Binding) {
	qs := r.keys[b.Key]
	if qs == nil {
		qs = &queueSet{}
		r.keys[b.Key] = qs
	}
	qs.add(b.Queue)
}

func (r *directRouter) remove(_ bindingID, b Binding) {
	qs := r.keys[b.Key]
	qs.remove(b.Queue)
	if qs.empty() {
		delete(r.keys, b.Key)
	}
}

// route needs no sort: a single queueSet is already sorted and distinct.
func (r *directRouter) route(routingKey string, _ map[string]Value, dst []string) []string {
	if qs := r.keys[routingKey]; qs != nil {
		dst = append(dst, qs.sorted...)
	}
	return dst
}
