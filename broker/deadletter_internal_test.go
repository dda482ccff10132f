package broker

import (
	"testing"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"pgregory.net/rapid"
)

func deathDL(queue, reason string) fsm.DeadLetter {
	return fsm.DeadLetter{Queue: queue, Reason: reason, Payload: &fsmpb.Payload{Exchange: "ex", RoutingKey: "rk", Body: []byte("b")}}
}

// TestXDeathRecords: one entry per (queue, reason), counted, the most
// recent first; x-first-death-* kept, x-last-death-* replaced; the
// expiration moved into original-expiration.
func TestXDeathRecords(t *testing.T) {
	now := time.Unix(1000, 0)
	e := deadLetterEntry(deathDL("a", "rejected"), now)
	e.Message.Properties.ExpirationMs = 0
	dl := deathDL("b", "expired")
	dl.Payload = logPayload(&PublishEntry{Exchange: "ex", RoutingKey: "rk", Message: Message{Headers: e.Message.Headers, Properties: Properties{ExpirationMs: 500}}})
	e = deadLetterEntry(dl, now.Add(time.Second))
	dl = deathDL("a", "rejected")
	dl.Payload = logPayload(&PublishEntry{Exchange: "ex", RoutingKey: "rk", Message: e.Message})
	e = deadLetterEntry(dl, now.Add(2*time.Second))

	ds := deathsOf(e.Message.Headers)
	if len(ds) != 2 {
		t.Fatalf("%d deaths, want 2", len(ds))
	}
	if tableString(ds[0], "queue") != "a" || ds[0].Fields["count"].GetIntValue() != 2 || ds[0].Fields["time"].GetIntValue() != 1000 {
		t.Fatalf("first death %v: want a, count 2, the first time", ds[0])
	}
	if tableString(ds[1], "queue") != "b" || tableString(ds[1], "original-expiration") != "500" {
		t.Fatalf("second death %v", ds[1])
	}
	if e.Message.Properties.ExpirationMs != 0 {
		t.Fatal("expiration kept")
	}
	h := e.Message.Headers
	if h["x-first-death-queue"].Str != "a" || h["x-last-death-queue"].Str != "a" || h["x-first-death-reason"].Str != "rejected" {
		t.Fatalf("first/last headers %v", h)
	}
}

// TestDeathCycleProperty: isDeathCycle is RabbitMQ's rule restated: the
// target is in the deaths and no death from the most recent up to and
// including its most recent one is a rejection.
func TestDeathCycleProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		queues := []string{"a", "b", "c"}
		reasons := []string{"rejected", "expired", "maxlen", "delivery_limit"}
		var deaths []*fsmpb.ValueTable
		for range rapid.IntRange(0, 6).Draw(t, "n") {
			deaths = recordDeath(deaths, deathDL(rapid.SampledFrom(queues).Draw(t, "q"), rapid.SampledFrom(reasons).Draw(t, "r")), time.Unix(0, 0), 0)
		}
		seen := map[[2]string]bool{}
		for _, d := range deaths {
			k := [2]string{tableString(d, "queue"), tableString(d, "reason")}
			if seen[k] {
				t.Fatalf("two entries for %v", k)
			}
			seen[k] = true
		}
		target := rapid.SampledFrom(queues).Draw(t, "target")
		want := false
		for i, d := range deaths {
			if tableString(d, "queue") == target {
				want = true
				for _, e := range deaths[:i+1] {
					if tableString(e, "reason") == "rejected" {
						want = false
					}
				}
				break
			}
		}
		if got := isDeathCycle(target, deaths); got != want {
			t.Fatalf("isDeathCycle(%q) = %t, want %t", target, got, want)
		}
	})
}
