package chaos

import (
	"slices"
	"testing"
)

// TestTopologyConsistent checks that every queue a route reaches is
// declared and read (consumed during the run or drained at the end), and
// that the dead-letter source is never consumed, so its messages expire.
func TestTopologyConsistent(t *testing.T) {
	for _, r := range append(slices.Clone(routes), orderedRoute) {
		for _, q := range r.queues {
			if !slices.Contains(queueNames, q) {
				t.Errorf("route %s: queue %s not declared", r.name, q)
			}
			if q == queueDLSource {
				t.Errorf("route %s expects messages in the dead-letter source", r.name)
			}
		}
	}
	if slices.Contains(consumedQueues, queueDLSource) {
		t.Error("the dead-letter source is consumed")
	}
	if slices.Index(queueNames, queueDLTarget) > slices.Index(queueNames, queueDLSource) {
		t.Error("the dead-letter target is declared after its source")
	}
	a := queueArgs(queueDLSource)
	if a["x-dead-letter-strategy"] != "at-least-once" || a["x-overflow"] != "reject-publish" || a["x-dead-letter-routing-key"] != queueDLTarget {
		t.Errorf("dead-letter source arguments %v", a)
	}
	for _, q := range queueNames {
		if queueArgs(q)["x-delivery-limit"] != int64(-1) {
			t.Errorf("queue %s has a delivery limit", q)
		}
	}
	if queueArgs(queueSAC)["x-single-active-consumer"] != true {
		t.Error("the SAC queue is not single-active-consumer")
	}
}
