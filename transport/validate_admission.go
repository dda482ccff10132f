package transport

// ResourceGuard decides whether the node takes new messages now. Check
// returns nil when it does, or an error saying which resource is short
// (memory, disk); the error should implement ResourceExhausted() bool, as
// internal/watermark's do, so that toStatus reports RESOURCE_EXHAUSTED with
// its message. Check runs on every publish and must be cheap and safe for
// concurrent use.
type ResourceGuard interface {
	Check() error
}

// SetResourceGuard makes Publish refuse whole requests, before anything is
// enqueued, while g reports the node short of a resource. Consumes, acks,
// gets, deletes and purges are not guarded: they are how queues drain. Call
// it before serving.
func (s *Server) SetResourceGuard(g ResourceGuard) { s.guard = g }

// SetResourceGuard makes the forwarded Enqueue refuse while g reports this
// node — the leader that would hold the messages — short of a resource.
// Call it before serving.
func (s *NodeServer) SetResourceGuard(g ResourceGuard) { s.guard = g }

// admit checks g (nil admits everything) and maps its refusal through the
// error table.
func admit(g ResourceGuard) error {
	if g == nil {
		return nil
	}
	if err := g.Check(); err != nil {
		return toStatus(err)
	}
	return nil
}
