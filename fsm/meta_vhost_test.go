package fsm

import (
	"errors"
	"slices"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func i64(v int64) *int64 { return &v }

func TestVHostsSeparateObjects(t *testing.T) {
	l := newMetaLog(t, fuzzMetaGroups)
	if res := l.apply(&fsmpb.DeclareQueue{Vhost: "b", Name: "jobs"}); !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("declare in a missing vhost: %v, want ErrNotFound", res.Err)
	}
	l.must(&fsmpb.AddVHost{Name: "b"})
	a := l.must(&fsmpb.DeclareQueue{Name: "jobs"})
	b := l.must(&fsmpb.DeclareQueue{Vhost: "b", Name: "jobs", Arguments: map[string]*fsmpb.Value{"x-max-length": num(5)}})
	if a.QueueID == b.QueueID || !b.Created {
		t.Fatalf("same name in two vhosts is one queue: %+v %+v", a, b)
	}
	l.must(&fsmpb.Bind{Vhost: "b", Exchange: "amq.direct", Queue: "jobs", Key: "k"})
	if res := l.apply(&fsmpb.Bind{Vhost: "b", Exchange: "amq.direct", Queue: "nope"}); !errors.Is(res.Err, ErrNotFound) {
		t.Errorf("binding to a queue of another vhost: %v", res.Err)
	}
	for _, c := range []struct {
		vhost, ex, key string
		want           uint64
	}{{"", "", "jobs", a.QueueID}, {"b", "", "jobs", b.QueueID}, {"b", "amq.direct", "k", b.QueueID}} {
		qs, err := l.m.Route(c.vhost, c.ex, c.key, nil)
		if err != nil || len(qs) != 1 || qs[0].ID != c.want {
			t.Errorf("route %q/%q/%q: %v %v, want queue %d", c.vhost, c.ex, c.key, qs, err, c.want)
		}
	}
	if qs, _ := l.m.Route("", "amq.direct", "k", nil); len(qs) != 0 {
		t.Errorf("a binding in vhost b routes in /: %v", qs)
	}
	if got := l.m.QueuesIn("b"); len(got) != 1 || got[0].VHost != "b" || got[0].Spec.GetVhost() != "b" {
		t.Errorf("QueuesIn(b) = %v", got)
	}
	if len(l.m.ExchangeNamesIn("b")) != len(builtinExchanges) {
		t.Errorf("vhost b has exchanges %v", l.m.ExchangeNamesIn("b"))
	}
	l.must(&fsmpb.AddUser{Name: "u"})
	l.must(&fsmpb.SetPermissions{Permission: allPerm("u", "b")})

	restored := restoreMetaRoundTrip(t, metaSnapshotBytes(t, l.m))
	if err := checkMetaInvariants(restored, true); err != nil {
		t.Fatalf("restored: %v", err)
	}
	for _, m := range []*Meta{l.m, restored} {
		res := m.Apply(l.index+1, &fsmpb.DeleteVHost{Name: "b"})
		if res.Err != nil || len(res.DroppedQueues) != 1 || res.DroppedQueues[0].ID != b.QueueID {
			t.Fatalf("delete vhost: %+v", res)
		}
		if _, ok := m.Queue("", "jobs"); !ok {
			t.Error("deleting vhost b deleted / jobs")
		}
		if m.HasVHost("b") || len(m.Permissions("u", "")) != 0 || len(m.ExchangeNamesIn("b")) != 0 || len(m.objects) != 1 {
			t.Errorf("vhost b left behind: objects %v, permissions %v", m.objects, m.Permissions("u", ""))
		}
		if err := checkMetaInvariants(m, true); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVHostLimits(t *testing.T) {
	l := newMetaLog(t, fuzzMetaGroups)
	l.must(&fsmpb.AddVHost{Name: "v"})
	l.must(&fsmpb.SetVHostLimits{Name: "v", Limits: &fsmpb.VHostLimits{MaxQueues: i64(2), MaxExchanges: i64(1), MaxBindings: i64(1)}})
	l.must(&fsmpb.DeclareQueue{Vhost: "v", Name: "q1"})
	l.must(&fsmpb.DeclareQueue{Vhost: "v", Name: "q2"})
	l.must(&fsmpb.DeclareQueue{Vhost: "v", Name: "q1"}) // redeclaring is not one more
	res := l.apply(&fsmpb.DeclareQueue{Vhost: "v", Name: "q3"})
	if !errors.Is(res.Err, ErrLimit) {
		t.Fatalf("third queue: %v, want ErrLimit", res.Err)
	}
	l.must(&fsmpb.DeclareQueue{Name: "q3"}) // other vhosts are not limited
	l.must(&fsmpb.DeclareExchange{Vhost: "v", Name: "e1", Kind: "fanout"})
	if res := l.apply(&fsmpb.DeclareExchange{Vhost: "v", Name: "e2", Kind: "fanout"}); !errors.Is(res.Err, ErrLimit) {
		t.Errorf("exchange past the limit: %v", res.Err)
	}
	l.must(&fsmpb.Bind{Vhost: "v", Exchange: "e1", Queue: "q1"})
	if res := l.apply(&fsmpb.Bind{Vhost: "v", Exchange: "e1", Queue: "q2"}); !errors.Is(res.Err, ErrLimit) {
		t.Errorf("binding past the limit: %v", res.Err)
	}
	l.must(&fsmpb.DeleteQueue{Vhost: "v", Name: "q1"}) // frees a queue and its binding
	l.must(&fsmpb.Bind{Vhost: "v", Exchange: "e1", Queue: "q2"})
	if res := l.apply(&fsmpb.SetVHostLimits{Name: "v", Limits: &fsmpb.VHostLimits{MaxQueues: i64(-1)}}); !errors.Is(res.Err, ErrInvalid) {
		t.Errorf("negative limit: %v", res.Err)
	}
	restored := restoreMetaRoundTrip(t, metaSnapshotBytes(t, l.m))
	if got := restored.VHostLimits("v"); got.GetMaxQueues() != 2 || got.GetMaxBindings() != 1 {
		t.Errorf("restored limits %v", got)
	}
	if !slices.Equal(restored.VHosts(), []string{"/", "v"}) {
		t.Errorf("restored vhosts %v", restored.VHosts())
	}
}
