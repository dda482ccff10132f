package routing

// fanoutRouter sends every message to every bound queue. Key and arguments
// still count towards a binding's identity (as in RabbitMQ), so a queue can
// be bound more than once; the counted set keeps it listed once.
type fanoutRouter struct {
	queues queueSet
}

func (r *fanoutRouter) add(_ bindingID, b Binding) { r.queues.add(b.Queue) }

func (r *fanoutRouter) remove(_ bindingID, b Binding) { r.queues.remove(b.Queue) }

func (r *fanoutRouter) route(_ string, _ map[string]Value, dst []string) []string {
	return append(dst, r.queues.sorted...)
}
