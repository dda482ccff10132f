package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// TestDropQueueEndsConsumers: DropQueue lists every consumer of the queue,
// by session then tag, with the command's reason ("queue deleted" when it
// gives none), so the leader can end their streams.
func TestDropQueueEndsConsumers(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{{"", "queue deleted"}, {"virtual host deleted", "virtual host deleted"}} {
		r := newQueueRunner(t)
		jobs, other := qspec(1, "jobs"), qspec(2, "other")
		r.ok(checkout(jobs, "s2", "b", 0, false))
		r.ok(checkout(jobs, "s1", "z", 0, false))
		r.ok(checkout(jobs, "s1", "a", 0, false))
		r.ok(checkout(other, "s1", "a", 0, false))
		res := r.ok(&fsmpb.DropQueue{Queue: 1, Reason: tc.reason})
		var got []string
		for _, e := range res.Ended {
			if e.Queue != 1 || e.QueueName != "jobs" || e.Reason != tc.want {
				t.Fatalf("ended %+v, want queue 1 jobs, reason %q", e, tc.want)
			}
			got = append(got, e.Session+"/"+e.Tag)
		}
		wantStrings(t, "ended", got, []string{"s1/a", "s1/z", "s2/b"})
		if !r.g.HasSession("s1") || r.g.HasSession("s2") {
			t.Fatalf("session index after drop: s1 %t (want true: other), s2 %t", r.g.HasSession("s1"), r.g.HasSession("s2"))
		}
		if res := r.ok(&fsmpb.DropQueue{Queue: 1}); len(res.Ended) != 0 {
			t.Fatalf("second drop ended %+v", res.Ended)
		}
	}
}
