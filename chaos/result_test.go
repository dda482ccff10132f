package chaos

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestHealTime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var events []confirmEvent
	// Before the fault every route confirms; after it, route 0 first
	// confirms a publish sent after the fault 3s in, the others at 1s.
	for r := range len(routes) + 1 {
		events = append(events, confirmEvent{route: r, sent: at(-time.Second), done: at(-900 * time.Millisecond)})
		// Sent before the fault, confirmed after: does not count.
		events = append(events, confirmEvent{route: r, sent: at(-time.Millisecond), done: at(500 * time.Millisecond)})
		d := time.Second
		if r == 0 {
			d = 3 * time.Second
		}
		events = append(events, confirmEvent{route: r, sent: at(100 * time.Millisecond), done: at(d)})
	}
	if got := healTime(events, t0); got != 3*time.Second {
		t.Fatalf("heal time %v, want 3s", got)
	}
	if got := healTime(events[:3], t0); got != -1 {
		t.Fatalf("heal time with routes never confirming: %v, want -1", got)
	}
}

func TestMonitorLeaderless(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	m := &monitor{samples: []leaderSample{
		{at(-200 * time.Millisecond), true},
		{at(0), false}, {at(200 * time.Millisecond), false}, {at(400 * time.Millisecond), true},
		{at(2 * time.Second), true},
		{at(3 * time.Second), false},
	}}
	if got := m.leaderless(t0, time.Time{}); got != 400*time.Millisecond {
		t.Fatalf("leaderless %v, want 400ms", got)
	}
	if got := m.leaderless(at(time.Second), time.Time{}); got != 0 {
		t.Fatalf("leaderless from a led sample: %v, want 0", got)
	}
	if got := m.leaderless(at(2500*time.Millisecond), time.Time{}); got != -1 {
		t.Fatalf("never led again: %v, want -1", got)
	}
}

func TestSummarizeAndTable(t *testing.T) {
	r := &Result{
		Seed: 5, Nodes: 3, Duration: time.Minute, Faults: []Fault{Kill, Pause},
		Injected: []FaultRecord{
			{Step: Step{Kind: Kill}, Name: "kill n1", HealTime: 3 * time.Second, Leaderless: 0, Recovered: time.Second},
			{Step: Step{Kind: Kill}, Name: "kill n2", HealTime: time.Second, Leaderless: 2 * time.Second},
			{Step: Step{Kind: Kill}, Name: "kill n3", HealTime: 2 * time.Second, Leaderless: time.Second},
			{Step: Step{Kind: Pause}, Name: "pause n1", HealTime: -1, Leaderless: -1, Error: "heal: boom"},
		},
	}
	r.Summary = summarize(r.Injected)
	if len(r.Summary) != 2 {
		t.Fatalf("summary %+v", r.Summary)
	}
	k := r.Summary[0]
	if k.Kind != Kill || k.Count != 3 || k.MedianHeal != 2*time.Second || k.MaxHeal != 3*time.Second || k.MedianLeaderless != time.Second {
		t.Fatalf("kill summary %+v", k)
	}
	p := r.Summary[1]
	if p.Count != 1 || p.MedianHeal != -1 || p.Errors != 1 {
		t.Fatalf("pause summary %+v", p)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"seed 5", "kill n2", "heal: boom", "MEDIAN HEAL TIME", "PASS"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"median_heal_time_ns": 2000000000`) {
		t.Fatalf("json %v:\n%s", err, b.String())
	}
}

func TestMessageBody(t *testing.T) {
	b := messageBody("p1-42", make([]byte, 64))
	if len(b) != 64 || messageID(b) != "p1-42" {
		t.Fatalf("body %q (%d bytes) id %q", b, len(b), messageID(b))
	}
	if b := messageBody("p1-4242424242", make([]byte, 4)); messageID(b) != "p1-4242424242" {
		t.Fatalf("short body %q", b)
	}
}
